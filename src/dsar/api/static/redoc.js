// Starts ReDoc on /redoc (kept out of the page so its Content-Security-Policy needs no inline script).
(function () {
  "use strict";
  var el = document.getElementById("redoc");
  Redoc.init(el.getAttribute("data-openapi"), {}, el);
})();
