from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from marketplace.core.forms import Form


class CloseForm(Form):
    reason = TextAreaField(
        _l("Begründung"),
        description=_l(
            "Warum jetzt abgeschlossen wird; steht im Prüfprotokoll (höchstens 300 Zeichen). Nötig, um trotz "
            "Verbrauch in Prüfung oder bestrittenem Verbrauch abzuschließen."
        ),
        validators=[Optional(), Length(max=300, message=_l("Die Anmerkung darf höchstens 300 Zeichen lang sein."))],
    )
    confirm = BooleanField(
        _l("Ich habe den Monat geprüft. Danach kann nichts mehr in ihn gebucht werden."),
        validators=[DataRequired(_l("Bitte bestätigen Sie den Abschluss."))],
    )
