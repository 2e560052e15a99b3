// MUTT live tail: follows /events with this page's query and puts each new message at the top
// of the table. Pause stops following; Resume starts again after the last message shown.
// Every value goes in as text (textContent), never as markup.
(function () {
  "use strict";
  var body = document.querySelector("#messages tbody");
  var status = document.getElementById("status");
  var button = document.getElementById("pause");
  if (!body || !status || !button) return;
  var last = status.getAttribute("data-after") || "";
  var source = null;
  var KEEP = 500;

  function filterLink(key, value) {
    var q = new URLSearchParams(location.search);
    q.set(key, value);
    return "/?" + q.toString();
  }
  function cell(tr, text, href, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (text) {
      if (href) {
        var a = document.createElement("a");
        a.href = href;
        a.textContent = text;
        td.appendChild(a);
      } else {
        td.textContent = text;
      }
    }
    tr.appendChild(td);
  }
  function add(r) {
    var tr = document.createElement("tr");
    if (!r.validated) tr.className = "invalid";
    cell(tr, r.received_at, "/messages/" + encodeURIComponent(r.id), "time");
    cell(tr, r.type, filterLink("type", r.type));
    cell(tr, r.source_ip, filterLink("device", r.source_ip));
    cell(tr, r.severity, r.severity && filterLink("severity", r.severity));
    cell(tr, r.rule_name || r.rule_id, r.rule_id && filterLink("rule", r.rule_id));
    if (r.oid) cell(tr, r.oid, filterLink("oid", r.oid));
    else cell(tr, r.program, r.program && filterLink("program", r.program));
    cell(tr, r.text.length > 300 ? r.text.slice(0, 300) + "\u2026" : r.text, null, "text");
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > KEEP) body.deleteRow(body.rows.length - 1);
  }
  function follow() {
    var q = new URLSearchParams(location.search);
    q.delete("before");
    if (last) q.set("after", last);
    source = new EventSource("/events?" + q.toString());
    source.addEventListener("ready", function () { status.textContent = "following"; });
    source.onmessage = function (e) {
      var r = JSON.parse(e.data);
      last = r.id;
      add(r);
    };
    source.onerror = function () { status.textContent = "reconnecting\u2026"; };
  }
  button.addEventListener("click", function () {
    if (source) {
      source.close();
      source = null;
      status.textContent = "paused";
      button.textContent = "Resume";
    } else {
      button.textContent = "Pause";
      follow();
    }
  });
  follow();
})();
