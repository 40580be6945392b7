/* The billing office's desk, added to pages served by `ocb serve` (never in
   output/): review decisions, close/reopen, email previews and import. Every
   write is a POST carrying the per-run token from window.ocbDesk. */
(function () {
  var desk = window.ocbDesk;
  if (!desk) return;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function post(path, body, headers) {
    var h = { "X-Ocb-Token": desk.token };
    if (!(body instanceof Blob)) { h["Content-Type"] = "application/json"; body = JSON.stringify(body); }
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(path, { method: "POST", headers: h, body: body, credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () { return { error: "HTTP " + r.status }; })
          .then(function (j) { j.status = r.status; return j; });
      }, function (e) { return { status: 0, error: "the desk is not answering: " + e }; });
  }

  /* A result: a message, the located problems, and a failed build's problems. */
  function show(box, res, okText) {
    box.textContent = "";
    var ok = res.status === 200 && !res.error;
    box.appendChild(el("p", { class: ok ? "desk-ok" : "desk-bad", text: ok ? okText(res) : res.error }));
    var problems = (res.problems || []).concat(res.build && !res.build.ok ? res.build.problems : []);
    if (res.build && !res.build.ok) box.appendChild(el("p", { class: "desk-bad", text: "The file was written, but the build found problems; the site shows the previous build:" }));
    if (problems.length) box.appendChild(el("ul", { class: "desk-problems" }, problems.map(function (p) { return el("li", {}, [el("code", { text: p })]); })));
    return ok;
  }

  function addNav() {
    var nav = document.querySelector(".top nav");
    if (!nav) return;
    [["/__desk/", "Desk", "desk"], ["/__desk/import", "Import", "import"]].forEach(function (l) {
      var a = el("a", { href: l[0], text: l[1], class: "desk-nav" });
      if (document.body.dataset.desk === l[2]) a.setAttribute("aria-current", "page");
      nav.appendChild(a);
    });
  }

  /* ---- Desk home: close, reopen, preview emails ---- */
  function home() {
    document.querySelectorAll("#desk-periods tr[data-period]").forEach(function (tr) {
      var period = tr.dataset.period;
      var box = tr.querySelector(".desk-result");
      var close = tr.querySelector(".desk-close");
      if (close) close.addEventListener("click", function () {
        if (!confirm("Close " + period + "? Its inputs are frozen until it is reopened.")) return;
        close.disabled = true;
        post("/__desk/api/close", { period: period }).then(function (r) {
          if (show(box, r, function (x) { return x.message; })) location.reload(); else close.disabled = false;
        });
      });
      var reopen = tr.querySelector(".desk-reopen");
      if (reopen) reopen.addEventListener("submit", function (ev) {
        ev.preventDefault();
        post("/__desk/api/reopen", { period: period, reason: reopen.reason.value }).then(function (r) {
          if (show(box, r, function (x) { return x.message; })) location.reload();
        });
      });
      tr.querySelector(".desk-emails").addEventListener("click", function () {
        box.textContent = "Writing the preview…";
        post("/__desk/api/emails", { period: period }).then(function (r) {
          if (show(box, r, function (x) { return x.messages + " message(s) previewed; nothing was sent."; })) {
            box.appendChild(el("p", {}, [el("a", { href: r.url, target: "_blank", rel: "noopener", text: "Open the email preview" })]));
          }
        });
      });
    });
  }

  /* ---- Review page: decide one held charge, or a bulk rule ---- */
  function decisionFields(prefix) {
    var decision = el("select", { name: "decision", "aria-label": "Decision" }, ["approve", "reject", "reassign"].map(function (d) { return el("option", { value: d, text: d }); }));
    var set = ["pi_email", "project_id", "fund_org"].map(function (k) {
      return el("label", { class: "desk-set", hidden: "" , text: k.replace("_", " ") }, [el("input", { name: k, id: prefix + k })]);
    });
    decision.addEventListener("change", function () { set.forEach(function (s) { s.hidden = decision.value !== "reassign"; }); });
    var note = el("label", { class: "wide", text: "Note" }, [el("input", { name: "note", placeholder: "why" })]);
    return [el("label", { text: "Decision" }, [decision])].concat(set, [note]);
  }

  function decisionBody(form, period) {
    var body = { period: period, decision: form.decision.value, note: form.note.value };
    if (body.decision === "reassign") {
      body.set = {};
      ["pi_email", "project_id", "fund_org"].forEach(function (k) { if (form[k].value.trim()) body.set[k] = form[k].value.trim(); });
    }
    return body;
  }

  /* Preview shows the entry; Write appends it, and the rebuild reloads the page. */
  function wire(form, period, target) {
    var out = el("div", { class: "desk-result", role: "status" });
    var preview = el("button", { type: "button", text: "Preview entry" });
    var write = el("button", { type: "button", class: "primary", text: "Write to review.yaml", disabled: "" });
    form.appendChild(el("div", { class: "desk-buttons" }, [preview, document.createTextNode(" "), write]));
    form.parentNode.appendChild(out);
    function send(doWrite) {
      var body = decisionBody(form, period);
      Object.keys(target()).forEach(function (k) { body[k] = target()[k]; });
      body.write = doWrite;
      return post("/__desk/api/review", body).then(function (r) {
        var ok = show(out, r, function (x) {
          var states = Object.keys(x.effect.states).map(function (s) { return x.effect.states[s] + " " + s; }).join(", ");
          return (doWrite ? "Written to " + x.written + ": " : "Would decide " + x.effect.charges + " charge(s): ") + states;
        });
        if (r.entry) out.appendChild(el("pre", { class: "snippet desk-entry", text: r.entry }));
        write.disabled = !ok || doWrite;
      });
    }
    form.addEventListener("input", function () { write.disabled = true; });
    form.addEventListener("change", function () { write.disabled = true; });
    preview.addEventListener("click", function () { send(false); });
    write.addEventListener("click", function () { write.disabled = true; send(true); });
  }

  function review(period) {
    fetch("/__desk/api/held?period=" + encodeURIComponent(period), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var heading = Array.prototype.find.call(document.querySelectorAll("main h2"), function (h) { return /^Held/.test(h.textContent); });
        if (!heading) return;
        if (data.status === "closed") {
          heading.parentNode.insertBefore(el("p", { class: "notice", text: "This period is closed: reopen it on the Desk page to change decisions." }), heading.nextSibling);
          return;
        }
        if (!data.held || !data.held.length) return;
        heading.parentNode.insertBefore(bulkPanel(period, data.held), heading.nextSibling);
        data.held.forEach(function (c) { rowButton(period, c); });
      });
  }

  function rowButton(period, c) {
    var tr = document.getElementById("c-" + c.id);
    if (!tr) return;
    var button = el("button", { type: "button", class: "desk-decide", text: "Decide…", "aria-expanded": "false" });
    tr.lastElementChild.appendChild(el("div", {}, [button]));
    var open = null;
    button.addEventListener("click", function () {
      if (open) { open.remove(); open = null; button.setAttribute("aria-expanded", "false"); return; }
      var form = el("form", { class: "desk-form", "data-charge": c.id }, decisionFields("d-" + c.id + "-"));
      if (c.pi_email) form.pi_email.value = c.pi_email;
      if (c.project_id) form.project_id.value = c.project_id;
      if (c.fund_org) form.fund_org.value = c.fund_org;
      form.addEventListener("submit", function (e) { e.preventDefault(); });
      var cell = el("td", { colspan: String(tr.children.length) }, [form]);
      open = el("tr", { class: "desk-row" }, [cell]);
      tr.parentNode.insertBefore(open, tr.nextSibling);
      wire(form, period, function () { return { charge: c.id }; });
      button.setAttribute("aria-expanded", "true");
    });
  }

  function bulkPanel(period, held) {
    var keys = [["source", "Source"], ["flag", "Flag"], ["service_name", "Service"], ["sub_account_id", "Sub-account"]];
    var selects = keys.map(function (k) {
      var values = held.map(function (c) { return k[0] === "flag" ? c.flag : c[k[0]]; })
        .filter(function (v, i, a) { return v && a.indexOf(v) === i; }).sort();
      var s = el("select", { name: "m_" + k[0] }, [el("option", { value: "", text: "any" })].concat(values.map(function (v) { return el("option", { value: v, text: v }); })));
      return el("label", { text: k[1] }, [s]);
    });
    var count = el("p", { class: "small muted" });
    var form = el("form", { class: "desk-form", id: "desk-bulk" }, selects.concat(decisionFields("bulk-")));
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    function rule() {
      var m = {};
      keys.forEach(function (k) { var v = form["m_" + k[0]].value; if (v) m[k[0]] = v; });
      return m;
    }
    function recount() {
      var m = rule();
      var n = held.filter(function (c) {
        return Object.keys(m).every(function (k) { return k === "flag" ? c.flags.indexOf(m[k]) >= 0 : c[k] === m[k]; });
      }).length;
      count.textContent = "The rule matches " + n + " of " + held.length + " held charges.";
    }
    form.addEventListener("change", recount);
    var panel = el("div", { class: "desk-panel" }, [el("h3", { text: "Decide a set of held charges (a bulk match rule)" }), form, count]);
    wire(form, period, function () { return { match: rule() }; });
    recount();
    return panel;
  }

  /* ---- Import page: drop, stage, plan, apply ---- */
  function importPage() {
    var drop = document.getElementById("drop");
    var status = document.getElementById("import-status");
    var plan = document.getElementById("plan");
    var list = document.getElementById("plan-files");
    var apply = document.getElementById("apply");
    var state = { batch: null, sources: {} };

    function say(text, cls) { status.textContent = ""; status.appendChild(el("p", { class: cls || "", text: text })); }

    function upload(files) {
      if (!files.length) return;
      state = { batch: null, sources: {} };
      plan.hidden = true;
      var i = 0;
      function next() {
        if (i >= files.length) return planNow();
        var f = files[i++];
        say("Uploading " + i + " of " + files.length + ": " + f.path);
        var url = "/__desk/api/upload" + (state.batch ? "?batch=" + state.batch : "");
        return post(url, f.file, { "X-Ocb-Name": encodeURIComponent(f.path) }).then(function (r) {
          if (r.status !== 200) { say(f.path + ": " + r.error, "desk-bad"); return; }
          state.batch = r.batch;
          return next();
        });
      }
      next();
    }

    function planNow() {
      say("Checking…");
      post("/__desk/api/import/plan", { batch: state.batch, sources: state.sources, force: document.getElementById("force").checked }).then(function (r) {
        if (r.status !== 200) { say(r.error, "desk-bad"); return; }
        render(r);
      });
    }

    function render(r) {
      list.textContent = "";
      r.items.forEach(function (it) {
        state.sources[it.item] = it.source;
        var source = el("input", { value: it.source, "aria-label": "Source name for " + it.item, size: "12" });
        source.addEventListener("change", function () { state.sources[it.item] = source.value; planNow(); });
        var rows = it.months.map(function (m) {
          return el("tr", {}, [el("th", { scope: "row", text: m.period }), el("td", { text: m.file }), el("td", { text: m.change }),
            el("td", { class: "num", text: String(m.rows) }), el("td", { class: "num", text: m.billed.join(" + ") })]);
        });
        var table = rows.length ? el("div", { class: "scroll" }, [el("table", {}, [el("thead", {}, [el("tr", {}, ["Month", "File", "Change", "Rows", "Billed"].map(function (h) { return el("th", { scope: "col", text: h }); }))]), el("tbody", {}, rows)])]) : null;
        var problems = it.problems.length ? el("ul", { class: "desk-problems" }, it.problems.map(function (p) { return el("li", {}, [el("code", { text: p })]); })) : null;
        var notes = it.notes.length ? el("ul", { class: "small muted" }, it.notes.map(function (n) { return el("li", { text: n }); })) : null;
        list.appendChild(el("div", { class: "plan-item" + (it.problems.length ? " bad" : "") }, [
          el("h3", { text: it.item }), el("label", { class: "small", text: "Source " }, [source]),
          it.problems.length ? el("p", { class: "desk-bad", text: it.problems.length + " problem(s): nothing from this file can be imported." }) : null,
          problems, table, notes]));
      });
      plan.hidden = false;
      apply.disabled = !r.ok;
      say(r.ok ? "Nothing is written until you press Import." : "Fix the problems and drop the files again; nothing was written.", r.ok ? "" : "desk-bad");
    }

    apply.addEventListener("click", function () {
      apply.disabled = true;
      say("Importing…");
      post("/__desk/api/import/apply", { batch: state.batch, sources: state.sources, force: document.getElementById("force").checked }).then(function (r) {
        if (show(status, r, function (x) { return "Imported: " + x.written.join(", "); }) && r.build.ok) setTimeout(function () { location.reload(); }, 300);
        else if (r.status !== 200) apply.disabled = false;
      });
    });
    document.getElementById("force").addEventListener("change", function () { if (state.batch) planNow(); });
    document.getElementById("clear").addEventListener("click", function () { location.reload(); });

    function fromInput(input) {
      return Array.prototype.map.call(input.files, function (f) { return { file: f, path: f.webkitRelativePath || f.name }; });
    }
    document.getElementById("file-input").addEventListener("change", function () { upload(fromInput(this)); });
    document.getElementById("folder-input").addEventListener("change", function () { upload(fromInput(this)); });

    /* A dropped folder is read through its entries; a dropped file may have none. */
    function walk(entry, path, out) {
      return new Promise(function (done) {
        if (entry.isFile) entry.file(function (f) { out.push({ file: f, path: path + f.name }); done(); }, function () { done(); });
        else {
          var reader = entry.createReader(), all = [];
          (function more() {
            reader.readEntries(function (batch) {
              if (!batch.length) return Promise.all(all.map(function (e) { return walk(e, path + entry.name + "/", out); })).then(done);
              all = all.concat(Array.prototype.slice.call(batch)); more();
            }, function () { done(); });
          })();
        }
      });
    }
    ["dragenter", "dragover"].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add("over"); }); });
    drop.addEventListener("dragleave", function () { drop.classList.remove("over"); });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      drop.classList.remove("over");
      var dt = e.dataTransfer, out = [], waits = [];
      Array.prototype.forEach.call(dt.items || [], function (item) {
        var entry = item.webkitGetAsEntry && item.webkitGetAsEntry();
        if (entry && entry.isDirectory) waits.push(walk(entry, "", out));
        else { var f = item.getAsFile(); if (f) out.push({ file: f, path: f.name }); }
      });
      if (!dt.items || !dt.items.length) Array.prototype.forEach.call(dt.files, function (f) { out.push({ file: f, path: f.name }); });
      Promise.all(waits).then(function () { upload(out); });
    });
  }

  addNav();
  var page = document.body.dataset.desk;
  var m = location.pathname.match(/^\/(\d{4}-\d{2})\/review\.html$/);
  if (page === "desk") home();
  else if (page === "import") importPage();
  else if (m) review(m[1]);
})();
