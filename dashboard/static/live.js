// Live updates for the clerk's page (progressive enhancement: the page is complete without
// this). Server-Sent Events from /live/stream say "the meeting moved, up to event N" (at most
// a few times a second, however many events come); the page then re-fetches
// /live/fragment?after=N, the server-rendered HTML of its changing parts, and swaps each
// element marked data-swap into place by id. A slow timer refreshes the clock, who is in the
// room and the gate's health. The newest attempt is announced politely to screen readers;
// nothing else moves focus.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.fetch || !window.DOMParser) { return; }
  var status = document.getElementById("live-status");
  var announce = document.getElementById("live-announce");
  var fragmentUrl = root.getAttribute("data-fragment");
  var after = parseInt(root.getAttribute("data-after") || "0", 10) || 0;
  var told = after;  // the newest attempt announced (or already on the page when it loaded)
  var busy = false, again = false, timer = null;
  // Once the reader submits a form (Start, End, Extend…) the page is on its way out: a live
  // update must not navigate it elsewhere, which would cancel that submission's own result
  // page (its "done" message). A form whose submission was cancelled (confirm.js) stays.
  var leaving = false;
  document.addEventListener("submit", function (ev) {
    if (!ev.defaultPrevented) { leaving = true; }
  });
  window.addEventListener("pageshow", function () { leaving = false; });  // back/forward cache

  function say(text) { if (status) { status.textContent = text; } }

  function swap(html) {
    if (leaving) { return; }
    var doc = new DOMParser().parseFromString(html, "text/html");
    var meta = doc.getElementById("fragment-meta");
    if (meta && (meta.getAttribute("data-meeting") !== root.getAttribute("data-meeting") ||
                 meta.getAttribute("data-state") !== root.getAttribute("data-state"))) {
      // A meeting started or ended elsewhere: the page's layout changes. (Not reload():
      // that would show the last action's "done" message again.)
      window.location.assign(window.location.pathname);
      return;
    }
    var active = document.activeElement;
    Array.prototype.forEach.call(doc.querySelectorAll("[data-swap][id]"), function (fresh) {
      var old = document.getElementById(fresh.id);
      if (!old) { return; }
      var node = document.importNode(fresh, true);
      var hadFocus = old === active || old.contains(active);
      var top = old.scrollTop, left = old.scrollLeft;
      old.replaceWith(node);
      node.scrollTop = top;  // a scrolled table or feed stays where the reader was
      node.scrollLeft = left;
      if (hadFocus) {  // keyboard users keep their place
        var target = (active.id && document.getElementById(active.id)) || node;
        if (target.focus) { target.focus({ preventScroll: true }); }
      }
    });
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var url = fragmentUrl + (fragmentUrl.indexOf("?") < 0 ? "?" : "&") + "after=" + after;
    fetch(url, { credentials: "same-origin", redirect: "manual",
                         headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401 || r.status === 403) {
          say("Your session has ended: reload the page to sign in again.");
          return null;
        }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html) { swap(html); } })
      .catch(function () { say("Live updates interrupted; retrying…"); })
      .then(function () {
        busy = false;
        if (again) { again = false; soon(); }
      });
  }

  function soon() {
    if (timer) { return; }
    timer = window.setTimeout(function () { timer = null; refresh(); }, 100);
  }

  window.setInterval(refresh, 10000);
  if (!window.EventSource) { say("Updates every 10 seconds."); return; }
  var src = new EventSource("/live/stream");
  src.addEventListener("change", function (ev) {
    try {
      var news = JSON.parse(ev.data);
      if (news.last > after) { after = news.last; }
      if (news.id > told) {  // newer than anything the page has shown
        told = news.id;
        if (announce && news.text) { announce.textContent = news.text; }
      }
    } catch (e) { /* still refresh */ }
    soon();
  });
  src.onopen = function () { say("Live: new attempts appear here without reloading."); };
  src.onerror = function () { say("Live feed interrupted; reconnecting…"); };
})();
