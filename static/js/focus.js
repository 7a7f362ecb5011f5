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
