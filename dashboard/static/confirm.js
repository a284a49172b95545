// A quicker confirmation for forms marked data-confirm: one dialog instead of the
// confirmation page. Without JavaScript the server shows that page (confirmed=0).
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); return; }
      var flag = form.querySelector("input[name=confirmed]");
      if (flag) { flag.value = "1"; }
    });
  });
})();
