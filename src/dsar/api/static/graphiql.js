// Starts GraphiQL on GET /graphql (kept out of the page so its Content-Security-Policy needs no inline script).
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var fetcher = GraphiQL.createFetcher({ url: root.getAttribute("data-endpoint") });
  var headers = JSON.stringify({ Authorization: "Bearer <an access token from POST /token>" }, null, 2);
  var h = React.createElement;

  function App() {
    var state = React.useState(undefined);
    var query = state[0];
    var setQuery = state[1];
    var plugins = [];
    if (window.GraphiQLPluginExplorer && GraphiQLPluginExplorer.useExplorerPlugin) {
      plugins.push(GraphiQLPluginExplorer.useExplorerPlugin({ query: query, onEdit: setQuery }));
    }
    return h(GraphiQL, {
      fetcher: fetcher,
      query: query,
      onEditQuery: setQuery,
      plugins: plugins,
      defaultHeaders: headers,
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: true,
    });
  }

  if (ReactDOM.createRoot) {
    ReactDOM.createRoot(root).render(h(App));
  } else {
    ReactDOM.render(h(App), root);
  }
})();
