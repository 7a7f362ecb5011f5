// After a form was sent, the page's answer gets the focus: the list of errors, else the first message
// (success or failure), so that keyboard and screen-reader users land on it instead of the page's start.
document.addEventListener("DOMContentLoaded", () => {
  const answer = document.querySelector(".lb-error-summary, .lb-flashes .kern-alert, .lb-message");
  if (!answer) {
    return;
  }
  if (!answer.hasAttribute("tabindex")) {
    answer.setAttribute("tabindex", "-1");
  }
  answer.focus({ preventScroll: false });
});

// A "Drucken" button (data-print) opens the browser's print dialogue; the print styles leave out the site's frame.
document.addEventListener("click", (event) => {
  if (event.target instanceof Element && event.target.closest("[data-print]")) {
    window.print();
  }
});

// A table wider than the screen scrolls inside its box: the keyboard must reach it too (WCAG 2.1.1), so the
// box becomes a named, focusable region (its name: the table's caption).
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll(".kern-table-responsive:not([tabindex])")) {
    if (box.scrollWidth > box.clientWidth) {
      box.tabIndex = 0;
      box.setAttribute("role", "region");
      const caption = box.querySelector("caption");
      box.setAttribute("aria-label", caption ? caption.textContent.trim() : document.title);
    }
  }
});
