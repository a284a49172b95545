// Live feed: Server-Sent Events from /api/v1/events/stream. The browser's EventSource sends
// Last-Event-ID on reconnect, so nothing is missed and nothing is shown twice.
(function () {
  "use strict";
  var feed = document.getElementById("feed");
  var status = document.getElementById("feed-status");
  if (!feed || !window.EventSource) { return; }
  var seen = {};
  Array.prototype.forEach.call(feed.querySelectorAll("li[data-id]"), function (li) {
    seen[li.getAttribute("data-id")] = true;
  });
  var first = feed.querySelector("li[data-id]");
  var after = first ? first.getAttribute("data-id") : "";
  var src = new EventSource("/api/v1/events/stream" + (after ? "?after_id=" + after : ""));
  function add(ev) {
    var item = JSON.parse(ev.data);
    if (seen[item.id]) { return; }
    seen[item.id] = true;
    var empty = feed.querySelector("li.empty");
    if (empty) { empty.remove(); }
    var li = document.createElement("li");
    li.className = "ev ev-" + item.kind;
    li.setAttribute("data-id", item.id);
    var t = document.createElement("time");
    t.setAttribute("datetime", item.ts);
    t.textContent = item.ts.substring(11, 19);
    li.appendChild(t);
    li.appendChild(document.createTextNode(" " + item.text));
    feed.insertBefore(li, feed.firstChild);
  }
  ["attempt", "bypass", "outage", "device-seen", "allowed-sample"].forEach(function (k) {
    src.addEventListener(k, add);
  });
  src.onopen = function () { status.textContent = "Live: new attempts appear here without reloading."; };
  src.onerror = function () { status.textContent = "Live feed interrupted; reconnecting…"; };
})();
