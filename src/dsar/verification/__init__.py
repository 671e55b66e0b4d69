"""Identity checks of the privacy center (e-mailed codes, OIDC, data points, agents) and the center's flow."""
