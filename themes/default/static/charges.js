/* Charges table: filters, sorting and paging over window.OCB_CHARGES, so a
   period of 100,000 charges stays fast (only one page is in the DOM). */
(function () {
  var data = window.OCB_CHARGES;
  var table = document.getElementById("charges");
  if (!data || !table) return;
  var PAGE = 100;
  var body = table.tBodies[0];
  var form = document.getElementById("filters");
  var count = document.getElementById("count");
  var pager = document.getElementById("pager");
  var pageLabel = document.getElementById("page");
  var fields = { pi: "f-pi", project: "f-project", source: "f-source", service: "f-service", state: "f-state" };
  var state = { sort: null, desc: false, page: 0, rows: data };
  form.hidden = false;
  pager.hidden = false;

  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }
  function render() {
    var start = state.page * PAGE;
    var rows = state.rows.slice(start, start + PAGE);
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      var id = cell("", ""); var code = document.createElement("code"); code.textContent = r.id; id.appendChild(code); tr.appendChild(id);
      var st = cell("", ""); var b = document.createElement("span"); b.className = "badge " + r.state; b.textContent = r.state; st.appendChild(b); tr.appendChild(st);
      [r.source, r.pi, r.project, r.fund, r.service].forEach(function (v) { tr.appendChild(cell(v)); });
      tr.appendChild(cell(r.resource, "wrap"));
      tr.appendChild(cell(r.flags));
      tr.appendChild(cell(r.billed, "num"));
      tr.appendChild(cell(r.list, "num"));
      tr.appendChild(cell(r.at, "muted"));
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
    var pages = Math.max(1, Math.ceil(state.rows.length / PAGE));
    count.textContent = state.rows.length + " of " + data.length + " charges";
    pageLabel.textContent = "Page " + (state.page + 1) + " of " + pages;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
  }
  function apply() {
    var q = document.getElementById("f-q").value.trim().toLowerCase();
    var want = {};
    Object.keys(fields).forEach(function (k) { want[k] = document.getElementById(fields[k]).value; });
    state.rows = data.filter(function (r) {
      for (var k in want) { if (want[k] && r[k] !== want[k]) return false; }
      if (!q) return true;
      return (r.id + " " + r.resource + " " + r.service + " " + r.pi + " " + r.project + " " + r.flags).toLowerCase().indexOf(q) >= 0;
    });
    sort();
    state.page = 0;
    render();
  }
  function sort() {
    var k = state.sort;
    if (!k) return;
    var dir = state.desc ? -1 : 1;
    var numeric = k === "n";
    state.rows = state.rows.slice().sort(function (a, b) {
      var x = numeric ? parseFloat(a[k]) : a[k], y = numeric ? parseFloat(b[k]) : b[k];
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
      sort(); state.page = 0; render();
    });
  });
  document.getElementById("prev").addEventListener("click", function () { state.page--; render(); });
  document.getElementById("next").addEventListener("click", function () { state.page++; render(); });
  apply();
})();
