// A throwaway OpenID Connect provider for Partsbin's tests (the npm package oidc-provider).
//
// Environment: OIDC_PORT (127.0.0.1 port), OIDC_REDIRECT_URIS and OIDC_LOGOUT_URIS (comma-
// separated, registered for both clients), OIDC_CLIENT_ID, OIDC_CLIENT_SECRET (a confidential
// client; "<OIDC_CLIENT_ID>-public" is a public one without a secret).
// Users (log in with any password through the built-in development login form):
//   editor -> roles ["editor"], reader -> roles ["reader"], norole -> no roles.
// Consent is granted automatically (first-party apps).
import Provider from "oidc-provider";

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const list = (name) => (process.env[name] || "").split(",").filter(Boolean);

const USERS = {
  editor: { name: "Erin Editor", email: "erin@example.test", roles: ["editor"] },
  reader: { name: "Rex Reader", email: "rex@example.test", roles: ["reader"] },
  norole: { name: "Nora Nobody", email: "nora@example.test", roles: [] },
};

const configuration = {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: list("OIDC_REDIRECT_URIS"),
      post_logout_redirect_uris: list("OIDC_LOGOUT_URIS"),
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    },
    {
      // A public client: no secret, PKCE is all that ties the code to the app.
      client_id: `${process.env.OIDC_CLIENT_ID}-public`,
      token_endpoint_auth_method: "none",
      redirect_uris: list("OIDC_REDIRECT_URIS"),
      post_logout_redirect_uris: list("OIDC_LOGOUT_URIS"),
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    },
  ],
  claims: {
    openid: ["sub"],
    profile: ["name", "roles"],
    email: ["email", "email_verified"],
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 86400, Session: 86400, Grant: 86400 },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
  async findAccount(ctx, id) {
    const user = USERS[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: user.name, email: user.email, email_verified: true, roles: user.roles };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId =
      ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid profile email offline_access");
    grant.addOIDCClaims(["name", "roles", "email", "email_verified"]);
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);
provider.listen(port, "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
