// The pre-meeting check: replace the result panel from its fragment until the gate answers.
(function () {
  "use strict";
  var box = document.getElementById("check-result");
  if (!box) { return; }
  var url = box.getAttribute("data-poll");
  var tries = 0;
  function poll() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        box.innerHTML = html;
        var done = box.querySelector("[data-finished='yes']");
        if (!done && tries < 60) { setTimeout(poll, 500); }
      })
      .catch(function () { if (tries < 60) { setTimeout(poll, 1000); } });
  }
  setTimeout(poll, 500);
})();
