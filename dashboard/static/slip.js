// The slip's Print button (a script file: the CSP allows no inline handlers).
(function () {
  "use strict";
  var b = document.getElementById("print-slip");
  if (b) { b.addEventListener("click", function () { window.print(); }); }
})();
