package cluster

import (
	"fmt"
	"strings"
	"testing"
)

// newToken is a token named name with role, its secret "secret-NAME".
func newToken(id int, name, role string) Token {
	return Token{ID: fmt.Sprintf("%016x", id), Name: name, Role: role, SHA256: TokenDigest("secret-" + name), Created: 1_700_000_000_000_000_000}
}

// applyEncoded applies cmd as group 0 does: through its encoding.
func applyEncoded(t *testing.T, c *Config, cmd Command) error {
	t.Helper()
	back, err := DecodeCommand(cmd.Encode())
	if err != nil {
		t.Fatalf("%+v does not decode: %v", cmd, err)
	}
	return c.Apply(back)
}

func TestTokensAndRoles(t *testing.T) {
	c, err := Bootstrap(spec(1, 4, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Access().On() {
		t.Fatal("a new cluster has authentication on")
	}
	for _, tc := range []struct {
		name string
		cmd  Command
		fail string // "" when it applies
	}{
		{"the first token must be admin", CreateToken(newToken(1, "ci", RoleWriter), true), "the first token must have the role admin, not writer"},
		{"an unknown role", CreateToken(newToken(1, "ci", "auditor"), false), `no role named "auditor"`},
		{"a token in place of its digest", CreateToken(Token{ID: "0000000000000001", Name: "ci", Role: RoleAdmin, SHA256: "shoal_api_x"}, false), "never the token itself"},
		{"a bad name", CreateToken(newToken(1, "has space", RoleAdmin), false), `token name "has space": want 1 to 64 letters`},
		{"a bad id", CreateToken(Token{ID: "ID", Name: "ci", Role: RoleAdmin, SHA256: TokenDigest("x")}, false), `id "ID": want 8 to 32 lower-case hex digits`},
		{"no token", Command{Op: "token.create"}, "token.create: no token"},
		{"the first admin, made without a token", CreateToken(newToken(1, "root", RoleAdmin), true), ""},
		{"another made without a token", CreateToken(newToken(2, "sneaky", RoleAdmin), true), "the cluster has a token now"},
		{"a writer", CreateToken(newToken(2, "ci", RoleWriter), false), ""},
		{"a name taken", CreateToken(newToken(3, "ci", RoleReader), false), "a token named ci exists"},
		{"a name that is another's id", CreateToken(newToken(3, fmt.Sprintf("%016x", 1), RoleReader), false), `"0000000000000001" is the id of token root: choose another name`},
		{"an id taken", CreateToken(newToken(1, "other", RoleReader), false), `"0000000000000001" names token root already: draw another id`},
		{"a digest taken", CreateToken(Token{ID: "0000000000000009", Name: "copy", Role: RoleReader, SHA256: TokenDigest("secret-ci")}, false), "token ci has the same digest"},
		{"a custom role", SetRole(Role{Name: "orders", Read: []string{"Order", "kv"}, Write: []string{"Invoice"}}), ""},
		{"a token of the custom role", CreateToken(newToken(4, "billing", "orders"), false), ""},
		{"a built-in role changed", SetRole(Role{Name: RoleReader, Read: []string{"*"}}), "role reader is built in and cannot be changed"},
		{"a role that grants nothing", SetRole(Role{Name: "none"}), "role none grants nothing"},
		{"ingest read", SetRole(Role{Name: "x", Read: []string{"ingest"}}), "read: ingest can only be written"},
		{"cluster written", SetRole(Role{Name: "x", Write: []string{"cluster"}}), "write: cluster can only be read: changing the cluster takes the admin role"},
		{"not a type", SetRole(Role{Name: "x", Read: []string{"order"}}), `read: "order" is not a type name`},
		{"a type twice", SetRole(Role{Name: "x", Write: []string{"Order", "Order"}}), `write: "Order" is listed twice`},
		{"a built-in role deleted", DeleteRole(RoleWriter), "role writer is built in and cannot be deleted"},
		{"a role in use deleted", DeleteRole("orders"), "role orders is the role of 1 tokens (billing): revoke them first"},
		{"an unknown role deleted", DeleteRole("ghost"), `no custom role named "ghost"`},
		{"the last admin revoked while others remain", RevokeToken("root"), "root is the last admin token and 2 other tokens remain"},
		{"an unknown token revoked", RevokeToken("ghost"), `no token has the id or name "ghost"`},
		{"a token revoked by its id", RevokeToken(fmt.Sprintf("%016x", 4)), ""},
		{"the unused role deleted", DeleteRole("orders"), ""},
		{"a token revoked by its name", RevokeToken("ci"), ""},
		{"the last token revoked", RevokeToken("root"), ""},
		{"an auth setting that is not one", SetSetting("auth.mode", "on"), `no auth setting is named "auth.mode"`},
		{"auth.required not a boolean", SetSetting(AuthRequired, "yes"), "want true or false"},
		{"auth.required", SetSetting(AuthRequired, "true"), ""},
	} {
		err := applyEncoded(t, c, tc.cmd)
		if (err == nil) != (tc.fail == "") || (err != nil && !strings.Contains(err.Error(), tc.fail)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.fail)
		}
	}
	if len(c.Tokens) != 0 || len(c.Roles) != 0 {
		t.Fatalf("tokens %+v, roles %+v: want none left", c.Tokens, c.Roles)
	}
	if a := c.Access(); !a.On() || !a.Required {
		t.Fatalf("auth.required did not turn authentication on: %+v", a)
	}
	// With authentication required and no token, the first one is made
	// without one, and it too must be admin.
	if err := applyEncoded(t, c, CreateToken(newToken(5, "reader", RoleReader), true)); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("a first token of role reader: %v", err)
	}
	if err := applyEncoded(t, c, CreateToken(newToken(5, "root", RoleAdmin), true)); err != nil {
		t.Errorf("the first admin token of a cluster that requires one: %v", err)
	}
}

func TestRoleAllows(t *testing.T) {
	custom := Role{Name: "orders", Read: []string{"Order"}, Write: []string{"Invoice", "ingest"}}
	rights := []Right{
		{Admin: true},
		{Type: true, Object: "Order"}, {Write: true, Type: true, Object: "Order"},
		{Type: true, Object: "Invoice"}, {Write: true, Type: true, Object: "Invoice"},
		{Object: ObjectKV}, {Write: true, Object: ObjectKV},
		{Write: true, Object: ObjectIngest},
		{Object: ObjectCluster},
	}
	builtin := map[string]Role{}
	for _, r := range BuiltinRoles() {
		builtin[r.Name] = r
	}
	for _, tc := range []struct {
		role Role
		want string // one letter a right: y allowed, - not
	}{
		{builtin[RoleAdmin], "yyyyyyyyy"},
		{builtin[RoleWriter], "-yyyyyyyy"},
		{builtin[RoleReader], "-y-y-y--y"},
		{custom, "-y--y--y-"},
	} {
		got := ""
		for _, r := range rights {
			if tc.role.Allows(r) {
				got += "y"
			} else {
				got += "-"
			}
		}
		if got != tc.want {
			t.Errorf("role %s allows %s, want %s (rights: %v)", tc.role.Name, got, tc.want, rights)
		}
	}
	if s := (Right{Write: true, Type: true, Object: "Order"}).String(); s != "write type Order" {
		t.Errorf("a right reads %q", s)
	}
}

func TestAccess(t *testing.T) {
	c := &Config{Settings: map[string]string{}}
	for _, tok := range []Token{newToken(1, "root", RoleAdmin), newToken(2, "ci", RoleWriter)} {
		if err := c.Apply(CreateToken(tok, false)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Apply(SetRole(Role{Name: "orders", Read: []string{"Order"}})); err != nil {
		t.Fatal(err)
	}
	a := c.Access()
	if !a.On() || a.Required {
		t.Fatalf("with tokens: on %v, required %v", a.On(), a.Required)
	}
	for secret, want := range map[string]string{"secret-root": "root", "secret-ci": "ci", "secret-nobody": "", "": ""} {
		tok, ok := a.Authenticate(secret)
		if ok != (want != "") || tok.Name != want {
			t.Errorf("Authenticate(%q) = %+v %v, want %q", secret, tok, ok, want)
		}
	}
	if r, ok := a.Role("orders"); !ok || r.Read[0] != "Order" {
		t.Errorf("custom role: %+v %v", r, ok)
	}
	if r, ok := a.Role(RoleReader); !ok || r.Name != RoleReader {
		t.Errorf("built-in role: %+v %v", r, ok)
	}
	if tok, ok := a.Token(fmt.Sprintf("%016x", 2)); !ok || tok.Name != "ci" {
		t.Errorf("a token by id: %+v %v", tok, ok)
	}
	// The access is a copy: a change to the configuration leaves it be.
	c.Roles[0].Read[0] = "Changed"
	if r, _ := a.Role("orders"); r.Read[0] != "Order" {
		t.Error("the access shares its roles with the configuration")
	}
}

func TestAccessEncoding(t *testing.T) {
	c, err := Bootstrap(spec(1, 4, ""))
	if err != nil {
		t.Fatal(err)
	}
	before := string(c.Encode())
	if strings.Contains(before, "tokens") || strings.Contains(before, "roles") {
		t.Fatalf("a configuration without tokens encodes them: %s", before)
	}
	// An encoding from before tokens existed reads as a configuration
	// without them.
	old := `{"instances":[{"name":"n1","raft_id":1,"replicaset":"rs1","state":"online"}],"replicasets":[{"name":"rs1","group":1,"members":["n1"]}],"voters":["n1"],"buckets":["rs1"],"settings":{}}`
	if back, err := Decode([]byte(old)); err != nil || back.Access().On() {
		t.Fatalf("an old encoding: %v", err)
	}
	for _, cmd := range []Command{CreateToken(newToken(1, "root", RoleAdmin), false), SetRole(Role{Name: "orders", Write: []string{"*"}})} {
		if err := applyEncoded(t, c, cmd); err != nil {
			t.Fatal(err)
		}
	}
	back, err := Decode(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Encode()) != string(c.Encode()) || len(back.Tokens) != 1 || len(back.Roles) != 1 {
		t.Fatalf("tokens and roles did not survive the encoding: %s", back.Encode())
	}
	if strings.Contains(string(c.Encode()), "secret-root") {
		t.Fatal("the encoding holds a secret")
	}
	// DecodeCommand stays strict inside a token and a role.
	for _, b := range []string{
		`{"op":"token.create","token":{"id":"0000000000000001","name":"x","role":"admin","sha256":"00","secret":"s"}}`,
		`{"op":"role.set","role":{"name":"x","read":["*"],"admin":true}}`,
	} {
		if _, err := DecodeCommand([]byte(b)); err == nil {
			t.Errorf("%s decoded", b)
		}
	}
}

// Under auth.required the last token cannot be revoked: with none left,
// a request without a token could make the first again.
func TestLastTokenStaysUnderAuthRequired(t *testing.T) {
	c, err := Bootstrap(spec(1, 4, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []Command{SetSetting(AuthRequired, "true"), CreateToken(newToken(1, "root", RoleAdmin), true)} {
		if err := c.Apply(cmd); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Apply(RevokeToken("root")); err == nil || !strings.Contains(err.Error(), "anyone could make the first again") {
		t.Fatalf("revoking the last token under auth.required: %v", err)
	}
	if err := c.Apply(SetSetting(AuthRequired, "false")); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(RevokeToken("root")); err != nil {
		t.Fatalf("revoking the last token without auth.required: %v", err)
	}
}
