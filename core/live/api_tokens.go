package live

import (
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
)

// The token and role endpoints (auth.go says who may call them):
//
//	POST   /v1/tokens {"name", "role"} → 201 NewTokenBody, the secret shown this once
//	GET    /v1/tokens                  → 200 [TokenBody], oldest first
//	DELETE /v1/tokens/{id}             → 200 {"revoked": TokenBody}; {id} is the token's ID or name
//	GET    /v1/roles                   → 200 [RoleBody], built-in ones first
//	GET    /v1/roles/{name}            → 200 RoleBody, 404
//	PUT    /v1/roles/{name} {"read": [...], "write": [...]} → 200 RoleBody
//	DELETE /v1/roles/{name}            → 200 {"deleted": name}
//
// A change group 0 refuses (a name taken, a role in use, the last admin
// token) answers 422 with its reason; one it did not decide in time,
// 504.

// TokenPrefix starts every API token, so that one pasted where it does
// not belong can be recognised (an http connector's tokens start with
// connector.TokenPrefix).
const TokenPrefix = "shoal_api_"

// TokenBody describes an API token: never its secret, nor its digest.
type TokenBody struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created,omitzero"`
}

// NewTokenBody is the answer to POST /v1/tokens: the token made, and its
// secret, which no other answer shows again.
type NewTokenBody struct {
	TokenBody
	Token string `json:"token"`
}

// RoleBody describes a role. Admin is set for the built-in admin, which
// may also change the cluster.
type RoleBody struct {
	Name    string   `json:"name"`
	Read    []string `json:"read"`
	Write   []string `json:"write"`
	Admin   bool     `json:"admin,omitempty"`
	Builtin bool     `json:"builtin,omitempty"`
}

func tokenBody(t cluster.Token) TokenBody {
	b := TokenBody{ID: t.ID, Name: t.Name, Role: t.Role}
	if t.Created != 0 {
		b.Created = time.Unix(0, t.Created).UTC()
	}
	return b
}

func roleBody(r cluster.Role) RoleBody {
	b := RoleBody{Name: r.Name, Read: r.Read, Write: r.Write, Admin: r.Name == cluster.RoleAdmin, Builtin: cluster.IsBuiltinRole(r.Name)}
	if b.Read == nil {
		b.Read = []string{}
	}
	if b.Write == nil {
		b.Write = []string{}
	}
	return b
}

func (a *api) accessBackend() (AccessBackend, *cluster.Access, error) {
	ab, ok := a.b.(AccessBackend)
	if !ok {
		return nil, nil, apiErrorf(http.StatusNotImplemented, "this node serves no tokens")
	}
	acc, ok := ab.Access()
	if !ok {
		return nil, nil, apiErrorf(http.StatusServiceUnavailable, "%s: this instance has not applied the cluster's configuration yet", ErrUnavailable)
	}
	return ab, acc, nil
}

// accessChange answers the outcome of a change to the tokens or roles.
func accessChange(err error) error {
	if errors.Is(err, ErrAccessRefused) {
		return apiErrorf(http.StatusUnprocessableEntity, "%s", err)
	}
	return backendError(err)
}

// newSecret draws a token's secret and ID from crypto/rand: here, on
// the instance that proposes the token, and never in group 0's state
// machine, which keeps only the digest.
func newSecret() (secret, id string, err error) {
	var b [32 + 8]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("drawing a token: %w", err)
	}
	return TokenPrefix + hex.EncodeToString(b[:32]), hex.EncodeToString(b[32:]), nil
}

// MinSuppliedToken is the fewest bytes of a token an operator supplies
// to POST /v1/tokens: as many as the hex of 128 random bits.
const MinSuppliedToken = 32

// SuppliedTokenProblem says why a supplied token cannot be one, or "".
// It never quotes the token.
func SuppliedTokenProblem(token string) string {
	switch {
	case len(token) < MinSuppliedToken:
		return fmt.Sprintf("a supplied token must be at least %d bytes (it has %d): leave \"token\" out to have one drawn", MinSuppliedToken, len(token))
	case !ValidToken(token):
		return fmt.Sprintf("a supplied token must be a bearer token: at most %d bytes of letters, digits and -._~+/, then any = signs", MaxTokenLen)
	}
	return ""
}

func (a *api) createToken(w http.ResponseWriter, r *http.Request) error {
	ab, _, err := a.accessBackend()
	if err != nil {
		return err
	}
	fields := map[string]*jsonField{"name": {}, "role": {}, "token": {}}
	if err := a.readBody(w, r, fields); err != nil {
		return err
	}
	name, err := fields["name"].string("name")
	if err != nil {
		return err
	}
	role, err := fields["role"].string("role")
	if err != nil {
		return err
	}
	if err := errors.Join(cluster.CheckAccessName("token", name), cluster.CheckAccessName("role", role)); err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	secret, id, err := newSecret()
	if err != nil {
		return err
	}
	if fields["token"].set {
		// A secret the operator made (a secret store's, or shoal live
		// run's): taken as it is, if it is long enough to be one.
		if secret, err = fields["token"].string("token"); err != nil {
			return err
		}
		if why := SuppliedTokenProblem(secret); why != "" {
			return apiErrorf(http.StatusBadRequest, "request body: \"token\": %s", why)
		}
	}
	t := cluster.Token{ID: id, Name: name, Role: role, SHA256: cluster.TokenDigest(secret), Created: time.Now().UnixNano()}
	ctx, cancel := a.context(r)
	defer cancel()
	// A request without a token makes the cluster's first token, or none.
	bootstrap := principalOf(r).token == nil
	if err := ab.CreateToken(ctx, t, bootstrap); err != nil {
		if errors.Is(err, ErrUnknownOutcome) {
			return apiErrorf(http.StatusGatewayTimeout, "%s: token %s may have been made, and its secret is lost: revoke it by name, and make another", err, name)
		}
		return accessChange(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	respond(w, http.StatusCreated, NewTokenBody{TokenBody: tokenBody(t), Token: secret})
	return nil
}

func (a *api) listTokens(w http.ResponseWriter, r *http.Request) error {
	_, acc, err := a.accessBackend()
	if err != nil {
		return err
	}
	out := make([]TokenBody, 0, len(acc.Tokens))
	for _, t := range acc.Tokens {
		out = append(out, tokenBody(t))
	}
	respond(w, http.StatusOK, out)
	return nil
}

func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) error {
	ab, acc, err := a.accessBackend()
	if err != nil {
		return err
	}
	key := r.PathValue("id")
	t, ok := acc.Token(key)
	if !ok {
		// This instance may not have applied the token yet: group 0
		// decides, and only its answer says there is none.
		t = cluster.Token{ID: key, Name: key}
	}
	ctx, cancel := a.context(r)
	defer cancel()
	if err := ab.RevokeToken(ctx, t.ID); err != nil {
		if errors.Is(err, ErrAccessRefused) && strings.Contains(err.Error(), "no token has the id or name") {
			return apiErrorf(http.StatusNotFound, "no token has the id or name %q", key)
		}
		return accessChange(err)
	}
	respond(w, http.StatusOK, map[string]TokenBody{"revoked": tokenBody(t)})
	return nil
}

func (a *api) listRoles(w http.ResponseWriter, r *http.Request) error {
	_, acc, err := a.accessBackend()
	if err != nil {
		return err
	}
	var out []RoleBody
	for _, role := range append(cluster.BuiltinRoles(), acc.Roles...) {
		out = append(out, roleBody(role))
	}
	respond(w, http.StatusOK, out)
	return nil
}

func (a *api) getRole(w http.ResponseWriter, r *http.Request) error {
	_, acc, err := a.accessBackend()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	role, ok := acc.Role(name)
	if !ok {
		return apiErrorf(http.StatusNotFound, "no role named %q", name)
	}
	respond(w, http.StatusOK, roleBody(role))
	return nil
}

func (a *api) putRole(w http.ResponseWriter, r *http.Request) error {
	ab, _, err := a.accessBackend()
	if err != nil {
		return err
	}
	fields := map[string]*jsonField{"read": {}, "write": {}}
	if err := a.readBody(w, r, fields); err != nil {
		return err
	}
	role := cluster.Role{Name: r.PathValue("name")}
	if role.Read, err = fields["read"].strings("read"); err != nil {
		return err
	}
	if role.Write, err = fields["write"].strings("write"); err != nil {
		return err
	}
	if err := cluster.CheckRole(role); err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	ctx, cancel := a.context(r)
	defer cancel()
	if err := ab.SetRole(ctx, role); err != nil {
		return accessChange(err)
	}
	respond(w, http.StatusOK, roleBody(role))
	return nil
}

func (a *api) deleteRole(w http.ResponseWriter, r *http.Request) error {
	ab, _, err := a.accessBackend()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	ctx, cancel := a.context(r)
	defer cancel()
	// A role this instance does not know yet may be group 0's: it decides.
	if err := ab.DeleteRole(ctx, name); err != nil {
		if errors.Is(err, ErrAccessRefused) && strings.Contains(err.Error(), "no custom role named") {
			return apiErrorf(http.StatusNotFound, "no role named %q", name)
		}
		return accessChange(err)
	}
	respond(w, http.StatusOK, map[string]string{"deleted": name})
	return nil
}

// strings is the field's value, an array of strings; absent, none.
func (f *jsonField) strings(name string) ([]string, error) {
	if !f.set || string(f.raw) == "null" {
		return nil, nil
	}
	var list []string
	if f.raw[0] != '[' || json.Unmarshal(f.raw, &list) != nil {
		got := jsonKind(f.raw)
		if f.raw[0] == '[' {
			got = "an array holding other things"
		}
		return nil, apiErrorf(http.StatusBadRequest, "request body: %s: %q must be an array of strings, got %s", bodyPosition(f.body, f.off), name, got)
	}
	return list, nil
}
