// Collapsing, the status filter, the search and links to calls (#n<id>) for Ferry's report.
(() => {
  "use strict";
  const tree = document.getElementById("tree");
  const nodes = Array.from(tree.querySelectorAll("li.node"));
  const search = document.getElementById("search");
  const chips = Array.from(document.querySelectorAll(".chip"));
  const empty = document.getElementById("empty");
  let filter = "all";

  const own = (li, selector) => li.querySelector(":scope > " + selector);
  const parentNode = (li) => li.parentElement.closest("li.node");

  function setExpanded(li, open) {
    const twisty = own(li, ".row > button.twisty");
    if (!twisty) return;
    li.classList.toggle("collapsed", !open);
    twisty.setAttribute("aria-expanded", String(open));
  }

  function setDetails(li, open) {
    own(li, ".details").hidden = !open;
    own(li, ".row .title").setAttribute("aria-expanded", String(open));
  }

  function statusMatches(li) {
    if (filter === "all") return true;
    if (filter === "failures") return li.dataset.failing === "1";
    return li.dataset.status === filter;
  }

  // A call is listed when it matches or when a call inside it does (then it is context and
  // opens); children come after their parent in document order, so walk backwards.
  function apply() {
    const query = search.value.trim().toLowerCase();
    const active = filter !== "all" || query !== "";
    const listed = new Set();
    let matches = 0;
    for (let i = nodes.length - 1; i >= 0; i--) {
      const li = nodes[i];
      const hit = statusMatches(li) && (query === "" || li.dataset.search.includes(query));
      const kids = li.querySelectorAll(":scope > ul > li.node");
      const below = Array.prototype.some.call(kids, (c) => listed.has(c));
      if (hit || below) listed.add(li);
      if (hit) matches++;
      li.hidden = active && !hit && !below;
      li.classList.toggle("match", active && hit);
      li.classList.toggle("context", active && !hit && below);
      if (active && below) setExpanded(li, true);
    }
    empty.hidden = !active || matches > 0;
    document.body.dataset.filter = filter;
  }

  function choose(key) {
    filter = key === filter && key !== "all" ? "all" : key;
    for (const chip of chips) {
      chip.setAttribute("aria-pressed", String(chip.dataset.filter === filter));
    }
    apply();
  }

  function reveal(id) {
    const li = document.getElementById(id);
    if (!li || !li.classList.contains("node")) return;
    if (li.hidden) {
      search.value = "";
      choose("all");
    }
    for (let p = parentNode(li); p; p = parentNode(p)) setExpanded(p, true);
    setDetails(li, true);
    li.scrollIntoView({ block: "center" });
    li.classList.remove("flash");
    void li.offsetWidth; // restart the highlight
    li.classList.add("flash");
  }

  tree.addEventListener("click", (event) => {
    const li = event.target.closest("li.node");
    if (!li) return;
    if (event.target.closest("button.twisty")) {
      setExpanded(li, li.classList.contains("collapsed"));
    } else if (event.target.closest("button.title")) {
      setDetails(li, own(li, ".details").hidden);
    }
  });
  // Links to calls reveal them even when the address already names that call.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.node-link");
    if (!link) return;
    event.preventDefault();
    const id = link.getAttribute("href").slice(1);
    history.replaceState(null, "", "#" + id);
    reveal(id);
  });
  for (const chip of chips) chip.addEventListener("click", () => choose(chip.dataset.filter));
  search.addEventListener("input", apply);
  document.getElementById("expand-all").addEventListener("click", () => {
    for (const li of nodes) if (!li.hidden) setExpanded(li, true);
  });
  document.getElementById("collapse-all").addEventListener("click", () => {
    for (const li of nodes) setExpanded(li, false);
  });
  window.addEventListener("hashchange", () => reveal(location.hash.slice(1)));
  if (/^#n\d+$/.test(location.hash)) reveal(location.hash.slice(1));
})();
