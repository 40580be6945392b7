/* Light/dark toggle: follows the system until the user picks, then remembers. */
(function () {
  var root = document.documentElement;
  var button = document.getElementById("theme-toggle");
  if (!button) return;
  function current() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function label() { button.setAttribute("aria-pressed", current() === "dark" ? "true" : "false"); }
  button.addEventListener("click", function () {
    var next = current() === "dark" ? "light" : "dark";
    root.dataset.theme = next;
    try { localStorage.setItem("ocb-theme", next); } catch (e) {}
    label();
  });
  label();
})();
