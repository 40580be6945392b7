/* Charges table over sharded data (charges-data/, see docs/OPERATIONS.md):
   the small index and the first shard make the page interactive; paging
   loads the shard it needs, a filter loads only the shards that can match,
   and a charge id loads the one shard that holds it. Only one page of rows
   is ever in the DOM. */
(function () {
  var index = window.OCB_INDEX;
  var table = document.getElementById("charges");
  if (!index || !table) return;
  var PAGE = 100;
  var C = {};
  index.columns.forEach(function (c, i) { C[c] = i; });
  var FACETS = ["pi", "project", "source", "service", "state"];
  var fields = { pi: "f-pi", project: "f-project", source: "f-source", service: "f-service", state: "f-state" };
  var body = table.tBodies[0];
  var form = document.getElementById("filters");
  var count = document.getElementById("count");
  var pager = document.getElementById("pager");
  var pageLabel = document.getElementById("page");
  var state = { sort: null, desc: false, page: 0, rows: null, generation: 0 };
  var shards = [], waiting = {}, idMaps = {}, idWaiting = {};

  /* A shard's coded cells are indexes into its texts; `at` is [file, line]. */
  window.OCB_SHARD = function (n, texts, rows) {
    var coded = index.coded, at = C.at;
    rows.forEach(function (r) {
      for (var i = 0; i < coded.length; i++) r[coded[i]] = texts[r[coded[i]]];
      r[at] = texts[r[at][0]] + ":" + r[at][1];
    });
    shards[n] = rows;
    var done = waiting[n] || [];
    delete waiting[n];
    done.forEach(function (f) { f(); });
  };
  window.OCB_IDS = function (prefix, map) {
    idMaps[prefix] = map;
    var done = idWaiting[prefix] || [];
    delete idWaiting[prefix];
    done.forEach(function (f) { f(); });
  };
  function script(src, failed) {
    var s = document.createElement("script");
    s.src = src;
    if (failed) s.onerror = failed;
    document.head.appendChild(s);
  }
  function load(n, done) {
    if (shards[n]) return done();
    if (waiting[n]) { waiting[n].push(done); return; }
    waiting[n] = [done];
    script("charges-data/" + ("000" + n).slice(-4) + ".js");
  }
  function loadIds(prefix, done) {
    if (idMaps[prefix]) return done();
    if (idWaiting[prefix]) { idWaiting[prefix].push(done); return; }
    idWaiting[prefix] = [done];
    /* No file: no charge id starts so (a month with few charges). */
    script("charges-data/ids/" + prefix + ".js", function () { window.OCB_IDS(prefix, {}); });
  }
  function loadAll(list, done, progress) {
    var left = list.length;
    if (!left) return done();
    if (list.some(function (n) { return !shards[n]; })) progress(0, list.length);
    list.forEach(function (n) {
      load(n, function () {
        left--;
        progress(list.length - left, list.length);
        if (!left) done();
      });
    });
  }

  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }
  function rowElement(r) {
    var tr = document.createElement("tr");
    var id = cell(""); var code = document.createElement("code"); code.textContent = r[C.id]; id.appendChild(code); tr.appendChild(id);
    var st = cell(""); var b = document.createElement("span"); b.className = "badge " + r[C.state]; b.textContent = r[C.state]; st.appendChild(b); tr.appendChild(st);
    ["source", "pi", "project", "fund", "service"].forEach(function (k) { tr.appendChild(cell(r[C[k]])); });
    tr.appendChild(cell(r[C.resource], "wrap"));
    tr.appendChild(cell(r[C.flags]));
    tr.appendChild(cell(r[C.billed], "num"));
    tr.appendChild(cell(r[C.list], "num"));
    tr.appendChild(cell(r[C.at], "muted"));
    return tr;
  }
  function show(rows, matching) {
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(rowElement(r)); });
    body.replaceChildren(frag);
    var pages = Math.max(1, Math.ceil(matching / PAGE));
    count.textContent = matching + " of " + index.total + " charges";
    pageLabel.textContent = "Page " + (state.page + 1) + " of " + pages;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
  }
  function busy(done, all) {
    count.textContent = "Loading charges: " + done + "/" + all + " parts…";
  }
  /* No filter and no sort: a page is a slice of one or two shards. */
  function browse() {
    var generation = state.generation;
    var start = state.page * PAGE;
    var first = Math.floor(start / index.shard_rows);
    var last = Math.min(index.shards.length - 1, Math.floor((start + PAGE - 1) / index.shard_rows));
    var list = [];
    for (var n = first; n <= last; n++) list.push(n);
    loadAll(list, function () {
      if (generation !== state.generation) return;
      var rows = [];
      list.forEach(function (n) { rows = rows.concat(shards[n]); });
      var from = start - first * index.shard_rows;
      show(rows.slice(from, from + PAGE), index.total);
    }, busy);
  }
  function render() {
    if (state.rows === null) return browse();
    var start = state.page * PAGE;
    show(state.rows.slice(start, start + PAGE), state.rows.length);
  }
  /* Shards whose index says they hold every wanted facet value. */
  function candidates(want) {
    var out = [];
    index.shards.forEach(function (s, n) {
      var ok = FACETS.every(function (f, i) {
        if (!want[f]) return true;
        var v = index.values[f].indexOf(want[f]);
        return v >= 0 && s.has[i].indexOf(v) >= 0;
      });
      if (ok) out.push(n);
    });
    return out;
  }
  function apply() {
    var generation = ++state.generation;
    var q = document.getElementById("f-q").value.trim().toLowerCase();
    var want = {}, any = !!q || !!state.sort;
    FACETS.forEach(function (k) { want[k] = document.getElementById(fields[k]).value; if (want[k]) any = true; });
    state.page = 0;
    if (!any) { state.rows = null; return render(); }
    var filter = function (list) {
      loadAll(list, function () {
        if (generation !== state.generation) return;
        var rows = [];
        list.forEach(function (n) {
          shards[n].forEach(function (r) {
            for (var k in want) { if (want[k] && r[C[k]] !== want[k]) return; }
            if (q && (r[C.id] + " " + r[C.resource] + " " + r[C.service] + " " + r[C.pi] + " " + r[C.project] + " " + r[C.flags]).toLowerCase().indexOf(q) < 0) return;
            rows.push(r);
          });
        });
        state.rows = sort(rows);
        render();
      }, busy);
    };
    var list = candidates(want);
    if (/^[0-9a-f]{12}$/.test(q)) {
      /* A charge id: its one shard, from the id lookup. */
      var prefix = q.slice(0, index.id_prefix || 2);
      return loadIds(prefix, function () {
        var at = idMaps[prefix][q];
        var holds = at === undefined ? [] : [].concat(at);
        filter(list.filter(function (n) { return holds.indexOf(n) >= 0; }));
      });
    }
    filter(list);
  }
  function sort(rows) {
    var k = state.sort;
    if (!k) return rows;
    var dir = state.desc ? -1 : 1, i = C[k], numeric = k === "n";
    return rows.sort(function (a, b) {
      var x = numeric ? parseFloat(a[i]) : a[i], y = numeric ? parseFloat(b[i]) : b[i];
      return x < y ? -dir : x > y ? dir : 0;
    });
  }
  form.addEventListener("input", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    var k = th.dataset.key;
    if (!k) return;
    var btn = document.createElement("button");
    btn.type = "button"; btn.className = "sort"; btn.textContent = th.textContent;
    th.textContent = ""; th.appendChild(btn);
    btn.addEventListener("click", function () {
      state.desc = state.sort === k ? !state.desc : false;
      state.sort = k;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", state.desc ? "descending" : "ascending");
      apply();
    });
  });
  document.getElementById("prev").addEventListener("click", function () { state.page--; render(); });
  document.getElementById("next").addEventListener("click", function () { state.page++; render(); });
  form.hidden = false;
  pager.hidden = false;
  apply();
})();
