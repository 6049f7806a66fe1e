// The query page with scripts on: YASGUI replaces the plain form, knows our prefixes and examples,
// and links the IRIs served here to their pages on this server instead of their published host.
(function () {
  "use strict";
  var element = document.getElementById("yasgui");
  if (!element || typeof Yasgui === "undefined") {
    return; // the plain form stays
  }
  var config = JSON.parse(element.getAttribute("data-config"));
  document.body.classList.add("scripted");

  // the SPARQL protocol's own parameters; the rest of a page address (format=html, example=...)
  // is for this page and must not ride along with the editor's queries
  var DATASET_PARAMETERS = ["default-graph-uri", "named-graph-uri"];
  var queryFromAddress = false;

  function fromAddress(tab) {
    // a shared link (#query=...) or an address with ?query=: the editor opens (and runs) that query,
    // against this endpoint only
    queryFromAddress = true;
    tab.requestConfig.endpoint = config.endpoint;
    tab.requestConfig.args = (tab.requestConfig.args || []).filter(function (arg) {
      return DATASET_PARAMETERS.indexOf(arg.name) >= 0;
    });
    return tab;
  }

  var yasgui = new Yasgui(element, {
    requestConfig: { endpoint: config.endpoint, method: "POST" },
    copyEndpointOnNewTab: false,
    persistenceId: null, // every visit starts from the query the page was given
    populateFromUrl: fromAddress,
    endpointCatalogueOptions: { getData: function () { return [{ endpoint: config.endpoint }]; } },
    yasqe: { autocompleters: ["variables"] }, // the others call services on the internet
  });

  function currentTab() {
    return yasgui.getTab();
  }

  function prefixed(query) {
    // add the declarations the query uses but lacks, so examples and new queries just work
    var lines = [];
    Object.keys(config.prefixes).forEach(function (name) {
      var used = new RegExp("(^|[\\s(/^,;{])" + name + ":").test(query);
      var declared = new RegExp("PREFIX\\s+" + name + ":", "i").test(query);
      if (used && !declared) {
        lines.push("PREFIX " + name + ": <" + config.prefixes[name] + ">");
      }
    });
    return lines.length ? lines.join("\n") + "\n" + query : query;
  }

  if (!queryFromAddress) {
    currentTab().setQuery(prefixed(config.query));
  }

  document.querySelectorAll("a[data-example]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var example = config.examples.find(function (e) { return e.name === link.dataset.example; });
      if (!example) {
        return;
      }
      event.preventDefault();
      currentTab().setQuery(prefixed(example.query));
      window.scrollTo(0, 0);
    });
  });

  function localHref(iri) {
    for (var i = 0; i < config.links.length; i++) {
      var prefix = config.links[i][0];
      if (iri.indexOf(prefix) === 0) {
        return config.links[i][1] + iri.slice(prefix.length);
      }
    }
    return null;
  }

  function relink(root) {
    root.querySelectorAll("a[href]").forEach(function (anchor) {
      var local = localHref(anchor.getAttribute("href"));
      if (local !== null) {
        anchor.setAttribute("href", local);
        anchor.removeAttribute("target");
      }
    });
  }

  new MutationObserver(function () { relink(element); })
    .observe(element, { childList: true, subtree: true });
})();
