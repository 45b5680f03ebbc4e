package cluster

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Access to the API: tokens and the roles they carry. A token is a
// random secret that only the instance which made it ever sees; group 0
// keeps its SHA-256 digest, so the configuration (replicated, and
// snapshotted to every instance's disk) can be read without handing out
// a way in. A role grants rights: to read or write a data type (by name,
// or "*" for every type), the key-value API (kv), the inbound queue
// (ingest, write only) and the cluster's state (cluster, read only).
// Changing the cluster (models, pipelines, repairs, tokens and roles)
// takes the built-in role admin, which nothing else grants.
//
// Rights on data go down to a type's fields. In a role's Read or Write
// list:
//
//	Customer          every field of Customer
//	*                 every field of every type
//	Customer.email    the field email of Customer, and no other
//	-Customer.salary  every field but salary, of a type the list grants
//	                  whole (Customer or *)
//
// A field is a top-level field of the type's latest version, or one of
// its relations (GraphQL's Customer.orders); the fields of a record go
// with it (Order.shipping_address is all of the address). A role that
// grants a field but not its type reads and writes the type's objects
// with that field only: the API leaves the others out of what it
// answers, and refuses a filter, an ordering or a patch that names one
// of them (Role.Fields says which). The key fields are the exception: a
// role that reads any field of a type reads its key too, whatever it
// lists, for the key names the object in every path, answer and
// cursor. Only the API knows which fields a type's key has, so it
// applies that rule. Inserting, replacing or deleting an object writes
// every field, and takes write of the whole type; so does reading the
// repair queue, whose payloads are whole objects of every type.
//
// Some things take read of the whole type although they name fields:
//
//   - Ordering a listing by an index. A model revision may change an
//     index's fields without a new version, and the entries it made
//     before stay (core/kv's ListOrder): the order, and the cursors,
//     which carry the entries, may tell fields the index no longer has.
//   - Learning which object holds a unique index's key. A write that
//     would give the key to a second object is refused (409) naming
//     the index and the holder, but only to a role that reads every
//     field of the type: one that may write a field it may not read is
//     told only that a unique index holds the value already. That
//     much, 409 against 200, it learns all the same: a write tells
//     whether a unique value is taken.
//
// A role that writes some fields of a type patches the latest version's
// fields: an object stored at an older version is patched upgraded to
// the latest. The inbound queue (ingest) is no data type: a role that
// writes it hands in messages, and the pipeline writes whatever objects
// and fields it maps them to, whatever the role grants of those types.
//
// The model changes independently of the roles: a role is checked for
// its syntax only, and may name a type or a field the model does not
// have (yet). A field granted that the type lacks grants nothing.

// Built-in roles: they cannot be changed or deleted.
const (
	RoleAdmin  = "admin"  // everything
	RoleWriter = "writer" // read and write every type and kv, ingest, read the cluster
	RoleReader = "reader" // read every type, kv and the cluster
)

// What a role's rights name besides data types, which start with an
// upper-case letter (model.typeNamePattern) and so never collide with
// these.
const (
	AllTypes      = "*"       // every data type
	ObjectKV      = "kv"      // the key-value API
	ObjectIngest  = "ingest"  // handing messages in: written only
	ObjectCluster = "cluster" // cluster status, queues, model, pipeline: read only
)

// AuthRequired is the setting that turns authentication on while no
// token exists: "true" or "false" (the default). With it, the first
// token is made without one (POST /v1/tokens, once).
const AuthRequired = "auth.required"

// Limits of the access configuration: it lives in group 0, which every
// instance holds in memory and snapshots whole.
const (
	MaxTokens     = 256
	MaxRoles      = 64
	MaxRoleRights = 64 // entries in one of a role's lists
	maxAccessName = 64
)

// Token is an API token, as the configuration keeps it: never the
// secret, only its SHA-256 digest.
type Token struct {
	// ID names the token for good: the instance that made it drew it at
	// random.
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	// SHA256 is the digest of the secret, 64 lower-case hex digits.
	SHA256 string `json:"sha256"`
	// Created is the proposing instance's wall clock when it made the
	// token, Unix nanoseconds.
	Created int64 `json:"created,omitempty"`
}

// Role is a set of rights. Read and Write list data types by name, "*"
// for every type, fields of a type (Type.field), fields withheld from a
// type granted whole (-Type.field), and kv, ingest (Write only) and
// cluster (Read only).
type Role struct {
	Name  string   `json:"name"`
	Read  []string `json:"read,omitempty"`
	Write []string `json:"write,omitempty"`
}

// BuiltinRoles are the roles every cluster has, admin first. Admin's
// lists show what it may read and write; it may also change the
// cluster, which no list grants.
func BuiltinRoles() []Role {
	all := func() []string { return []string{AllTypes, ObjectKV, ObjectCluster} }
	allW := func() []string { return []string{AllTypes, ObjectKV, ObjectIngest} }
	return []Role{
		{Name: RoleAdmin, Read: all(), Write: allW()},
		{Name: RoleWriter, Read: all(), Write: allW()},
		{Name: RoleReader, Read: all()},
	}
}

// IsBuiltinRole reports whether name is a built-in role's.
func IsBuiltinRole(name string) bool {
	return name == RoleAdmin || name == RoleWriter || name == RoleReader
}

// Right is what a request needs: to change the cluster (Admin), or to
// read or write Object, which is a data type's name when Type is set, and
// else kv, ingest or cluster. A right on a type is on its Field, or on
// every field of it when Field is "".
type Right struct {
	Admin  bool
	Write  bool
	Type   bool
	Object string
	Field  string
}

// String says what the right is, for an error: "write type Customer",
// "read kv", "administer the cluster".
func (r Right) String() string {
	if r.Admin {
		return "administer the cluster"
	}
	verb := "read"
	if r.Write {
		verb = "write"
	}
	switch {
	case r.Type && r.Object == AllTypes:
		return verb + " every type"
	case r.Type && r.Field != "":
		return verb + " field " + r.Object + "." + r.Field
	case r.Type:
		return verb + " type " + r.Object
	}
	return verb + " " + r.Object
}

// Allows reports whether the role grants the right. A right on a whole
// type needs every field of it (Fields.Whole); the right to read or
// write every type needs * with no field withheld.
func (r Role) Allows(need Right) bool {
	if r.Name == RoleAdmin {
		return true
	}
	if need.Admin {
		return false
	}
	list := r.Read
	if need.Write {
		list = r.Write
	}
	switch {
	case need.Type && need.Object == AllTypes:
		return slices.Contains(list, AllTypes) && !slices.ContainsFunc(list, func(o string) bool { return strings.HasPrefix(o, "-") })
	case need.Type && need.Field != "":
		return r.Fields(need.Write, need.Object).Has(need.Field)
	case need.Type:
		return r.Fields(need.Write, need.Object).Whole()
	}
	return slices.Contains(list, need.Object)
}

// Fields is what a role grants of one data type's fields, to read or to
// write: every field but those in Names (Every), or those in Names only.
// Names is sorted. Key fields are not special here: see the package
// comment.
type Fields struct {
	Every bool
	Names []string
}

// Any reports whether the role grants the type or any field of it.
func (f Fields) Any() bool { return f.Every || len(f.Names) > 0 }

// Whole reports whether the role grants every field of the type.
func (f Fields) Whole() bool { return f.Every && len(f.Names) == 0 }

// Has reports whether the role grants the field.
func (f Fields) Has(field string) bool {
	_, listed := slices.BinarySearch(f.Names, field)
	if f.Every {
		return !listed
	}
	return listed
}

// Fields is what the role grants of typ's fields, to write or to read.
// A type's name has no dot: typ with one (a field, Type.field) is
// granted nothing, for a list's Type.field entry would match it as a
// type.
func (r Role) Fields(write bool, typ string) Fields {
	if strings.Contains(typ, ".") {
		return Fields{}
	}
	if r.Name == RoleAdmin {
		return Fields{Every: true}
	}
	list := r.Read
	if write {
		list = r.Write
	}
	var f Fields
	for _, o := range list {
		if o == typ || o == AllTypes {
			f.Every = true
		}
	}
	prefix := typ + "."
	if f.Every {
		prefix = "-" + prefix
	}
	for _, o := range list {
		if field, ok := strings.CutPrefix(o, prefix); ok {
			f.Names = append(f.Names, field)
		}
	}
	slices.Sort(f.Names)
	return f
}

// CanReadField reports whether the role reads field of typ's objects.
func (r Role) CanReadField(typ, field string) bool { return r.Fields(false, typ).Has(field) }

// CanWriteField reports whether the role writes field of typ's objects.
func (r Role) CanWriteField(typ, field string) bool { return r.Fields(true, typ).Has(field) }

// CreateToken adds a token. bootstrap marks one made by a request that
// carried no token: it is taken only while the cluster has no token, so
// that two such requests racing make one token, not two.
func CreateToken(t Token, bootstrap bool) Command {
	return Command{Op: "token.create", Token: &t, Bootstrap: bootstrap}
}

// RevokeToken removes the token with the given ID, or else name.
func RevokeToken(idOrName string) Command { return Command{Op: "token.revoke", Key: idOrName} }

// SetRole creates a custom role, or replaces its rights.
func SetRole(r Role) Command { return Command{Op: "role.set", Role: &r} }

// DeleteRole removes a custom role that no token has.
func DeleteRole(name string) Command { return Command{Op: "role.delete", Key: name} }

var (
	accessNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	tokenIDPattern    = regexp.MustCompile(`^[0-9a-f]{8,32}$`)
	typeNamePattern   = regexp.MustCompile(`^[A-Z][A-Za-z0-9_]*$`)
	fieldNamePattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) // model.fieldNamePattern
	hexDigestPattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// accessNameRule says what a token's or a role's name may be.
const accessNameRule = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"

// CheckAccessName checks the name of a token or a role (what says which).
func CheckAccessName(what, name string) error {
	if len(name) == 0 || len(name) > maxAccessName || !accessNamePattern.MatchString(name) {
		return fmt.Errorf("%s name %q: want %s", what, name, accessNameRule)
	}
	return nil
}

// CheckToken checks a token's fields as token.create does, before the
// configuration is consulted.
func CheckToken(t Token) error {
	if err := CheckAccessName("token", t.Name); err != nil {
		return err
	}
	if !tokenIDPattern.MatchString(t.ID) {
		return fmt.Errorf("token %s: id %q: want 8 to 32 lower-case hex digits", t.Name, t.ID)
	}
	if !hexDigestPattern.MatchString(t.SHA256) {
		return fmt.Errorf("token %s: sha256: want the token's SHA-256 digest, 64 lower-case hex digits (never the token itself)", t.Name)
	}
	if t.Role == "" {
		return fmt.Errorf("token %s: no role", t.Name)
	}
	if t.Created < 0 {
		return fmt.Errorf("token %s: created %d: want a time after 1970", t.Name, t.Created)
	}
	return nil
}

// CheckRole checks a custom role as role.set does: a name that is not a
// built-in's, and lists of known objects, each once, in the syntax the
// package comment gives; a field granted of a type the list grants
// whole, or withheld from one it does not, is refused, as it would do
// nothing. Names are checked for their syntax only: the model changes
// independently.
func CheckRole(r Role) error {
	if err := CheckAccessName("role", r.Name); err != nil {
		return err
	}
	if IsBuiltinRole(r.Name) {
		return fmt.Errorf("role %s is built in and cannot be changed (built-in roles: %s, %s, %s)", r.Name, RoleAdmin, RoleWriter, RoleReader)
	}
	if len(r.Read)+len(r.Write) == 0 {
		return fmt.Errorf("role %s grants nothing: give it types (or *, kv, ingest, cluster) to read or write", r.Name)
	}
	for _, l := range []struct {
		verb    string
		objects []string
		refused string
		why     string
	}{
		{"read", r.Read, ObjectIngest, "ingest can only be written (it hands messages in)"},
		{"write", r.Write, ObjectCluster, "cluster can only be read: changing the cluster takes the admin role"},
	} {
		if len(l.objects) > MaxRoleRights {
			return fmt.Errorf("role %s: %s: %d entries, at most %d", r.Name, l.verb, len(l.objects), MaxRoleRights)
		}
		for i, o := range l.objects {
			switch {
			case o == l.refused:
				return fmt.Errorf("role %s: %s: %s", r.Name, l.verb, l.why)
			case slices.Contains(l.objects[:i], o):
				return fmt.Errorf("role %s: %s: %q is listed twice", r.Name, l.verb, o)
			case o == AllTypes || o == ObjectKV || o == ObjectIngest || o == ObjectCluster:
			case strings.Contains(o, "."):
				if err := checkFieldRight(o, l.objects); err != nil {
					return fmt.Errorf("role %s: %s: %w", r.Name, l.verb, err)
				}
			case len(o) > maxAccessName || !typeNamePattern.MatchString(o):
				return fmt.Errorf("role %s: %s: %q is not a type name (letters, digits and _, at most %d, starting with an upper-case letter), a field (Type.field), a field withheld (-Type.field), nor *, %s, %s or %s",
					r.Name, l.verb, o, maxAccessName, ObjectKV, ObjectIngest, ObjectCluster)
			}
		}
	}
	return nil
}

// checkFieldRight checks an entry Type.field or -Type.field of list.
func checkFieldRight(o string, list []string) error {
	entry, withheld := strings.CutPrefix(o, "-")
	typ, field, _ := strings.Cut(entry, ".")
	whole := slices.Contains(list, typ) || slices.Contains(list, AllTypes)
	switch {
	case len(typ) > maxAccessName || !typeNamePattern.MatchString(typ):
		return fmt.Errorf("%q: %q is not a type name (letters, digits and _, at most %d, starting with an upper-case letter)", o, typ, maxAccessName)
	case strings.Contains(field, "."):
		top, _, _ := strings.Cut(field, ".")
		return fmt.Errorf("%q: rights go to a type's top-level fields only (%s.%s, which holds the fields inside it)", o, typ, top)
	case len(field) > maxAccessName || !fieldNamePattern.MatchString(field):
		return fmt.Errorf("%q: %q is not a field name (letters, digits and _, at most %d, not starting with a digit)", o, field, maxAccessName)
	case withheld && !whole:
		return fmt.Errorf("%q withholds a field of %s, which the list does not grant whole (as %s or *): a withheld field narrows a whole type; grant the fields one by one instead", o, typ, typ)
	case !withheld && whole:
		grant := typ
		if !slices.Contains(list, typ) {
			grant = AllTypes
		}
		return fmt.Errorf("%q: %s grants every field of %s already (withhold one as -%s.%s)", o, grant, typ, typ, field)
	}
	return nil
}

// checkAuthSetting checks an auth.* setting; other keys pass.
func checkAuthSetting(key, value string) error {
	if key == AuthRequired {
		if value != "true" && value != "false" {
			return fmt.Errorf("set %s=%q: want true or false", key, value)
		}
		return nil
	}
	if strings.HasPrefix(key, "auth.") {
		return fmt.Errorf("set: no auth setting is named %q (there is %s)", key, AuthRequired)
	}
	return nil
}

// checkSetting checks a setting's value where shoal reads it (queue.*,
// auth.*); other keys pass.
func checkSetting(key, value string) error {
	if err := checkQueueSetting(key, value); err != nil {
		return err
	}
	if err := checkGovernorSetting(key, value); err != nil {
		return err
	}
	if err := checkRebalanceSetting(key, value); err != nil {
		return err
	}
	return checkAuthSetting(key, value)
}

// tokenIndex is the index of the token with ID key, else of the one
// named key, or -1.
func tokenIndex(tokens []Token, key string) int {
	if i := slices.IndexFunc(tokens, func(t Token) bool { return t.ID == key }); i >= 0 {
		return i
	}
	return slices.IndexFunc(tokens, func(t Token) bool { return t.Name == key })
}

// hasRole reports whether the role exists, built in or custom.
func (c *Config) hasRole(name string) bool {
	return IsBuiltinRole(name) || slices.ContainsFunc(c.Roles, func(r Role) bool { return r.Name == name })
}

// createToken applies token.create.
func (c *Config) createToken(t *Token, bootstrap bool) error {
	if t == nil {
		return fmt.Errorf("token.create: no token")
	}
	if err := CheckToken(*t); err != nil {
		return fmt.Errorf("token.create: %w", err)
	}
	switch {
	case bootstrap && len(c.Tokens) > 0:
		return fmt.Errorf("token.create: the cluster has a token now (another was made meanwhile): making more takes an admin token")
	case len(c.Tokens) >= MaxTokens:
		return fmt.Errorf("token.create: the cluster has %d tokens, at most %d: revoke some first", len(c.Tokens), MaxTokens)
	case !c.hasRole(t.Role):
		return fmt.Errorf("token.create: no role named %q (built in: %s, %s, %s; shoal role list shows the others)", t.Role, RoleAdmin, RoleWriter, RoleReader)
	case len(c.Tokens) == 0 && t.Role != RoleAdmin:
		return fmt.Errorf("token.create: the first token must have the role %s, not %s: with it authentication turns on, and without an admin token nobody could make or revoke tokens any more (the cluster would be locked)", RoleAdmin, t.Role)
	}
	for _, o := range c.Tokens {
		switch {
		case o.Name == t.Name:
			return fmt.Errorf("token.create: a token named %s exists (id %s): revoke it first, or choose another name", t.Name, o.ID)
		case o.ID == t.ID || o.Name == t.ID:
			return fmt.Errorf("token.create: %q names token %s already: draw another id (tokens are revoked by id or name, so each must name one token)", t.ID, o.Name)
		case o.ID == t.Name:
			return fmt.Errorf("token.create: %q is the id of token %s: choose another name (tokens are revoked by id or name, so each must name one token)", t.Name, o.Name)
		case o.SHA256 == t.SHA256:
			return fmt.Errorf("token.create: token %s has the same digest: make a new secret", o.Name)
		}
	}
	c.Tokens = append(c.Tokens, *t)
	return nil
}

// revokeToken applies token.revoke. The last admin token goes only with
// the last token: otherwise the tokens left could not be managed.
func (c *Config) revokeToken(key string) error {
	i := tokenIndex(c.Tokens, key)
	if i < 0 {
		return fmt.Errorf("token.revoke: no token has the id or name %q", key)
	}
	t := c.Tokens[i]
	if len(c.Tokens) == 1 && c.Settings[AuthRequired] == "true" {
		// With no token left, a request without one may make the first
		// again: under auth.required the cluster would be open to anyone.
		return fmt.Errorf("token.revoke: %s is the last token and %s is true: without a token anyone could make the first again; make another admin token first, or set %s to false", t.Name, AuthRequired, AuthRequired)
	}
	if t.Role == RoleAdmin && len(c.Tokens) > 1 {
		admins := 0
		for _, o := range c.Tokens {
			if o.Role == RoleAdmin {
				admins++
			}
		}
		if admins == 1 {
			return fmt.Errorf("token.revoke: %s is the last admin token and %d other tokens remain: without it nobody could make or revoke tokens; make another admin token first, or revoke the others", t.Name, len(c.Tokens)-1)
		}
	}
	c.Tokens = slices.Delete(c.Tokens, i, i+1)
	if len(c.Tokens) == 0 {
		c.Tokens = nil
	}
	return nil
}

// setRole applies role.set: a new role is added, an existing one gets
// the new rights (its tokens with it).
func (c *Config) setRole(r *Role) error {
	if r == nil {
		return fmt.Errorf("role.set: no role")
	}
	if err := CheckRole(*r); err != nil {
		return fmt.Errorf("role.set: %w", err)
	}
	role := Role{Name: r.Name, Read: slices.Clone(r.Read), Write: slices.Clone(r.Write)}
	if i := slices.IndexFunc(c.Roles, func(o Role) bool { return o.Name == r.Name }); i >= 0 {
		c.Roles[i] = role
		return nil
	}
	if len(c.Roles) >= MaxRoles {
		return fmt.Errorf("role.set: the cluster has %d custom roles, at most %d: delete some first", len(c.Roles), MaxRoles)
	}
	c.Roles = append(c.Roles, role)
	return nil
}

// deleteRole applies role.delete.
func (c *Config) deleteRole(name string) error {
	if IsBuiltinRole(name) {
		return fmt.Errorf("role.delete: role %s is built in and cannot be deleted", name)
	}
	i := slices.IndexFunc(c.Roles, func(r Role) bool { return r.Name == name })
	if i < 0 {
		return fmt.Errorf("role.delete: no custom role named %q", name)
	}
	var users []string
	for _, t := range c.Tokens {
		if t.Role == name {
			users = append(users, t.Name)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("role.delete: role %s is the role of %d tokens (%s): revoke them first", name, len(users), strings.Join(users, ", "))
	}
	c.Roles = slices.Delete(c.Roles, i, i+1)
	if len(c.Roles) == 0 {
		c.Roles = nil
	}
	return nil
}

// Access is who may do what under a configuration: whether
// authentication is on, the tokens and the custom roles. It is a copy:
// the caller may keep it, and read it from many goroutines.
type Access struct {
	// Required is the setting auth.required.
	Required bool
	Tokens   []Token
	Roles    []Role // custom roles; BuiltinRoles are not among them
	digests  [][sha256.Size]byte
}

// Access is the configuration's access: a copy.
func (c *Config) Access() *Access {
	a := &Access{Required: c.Settings[AuthRequired] == "true", Tokens: slices.Clone(c.Tokens)}
	for _, r := range c.Roles {
		a.Roles = append(a.Roles, Role{Name: r.Name, Read: slices.Clone(r.Read), Write: slices.Clone(r.Write)})
	}
	a.digests = make([][sha256.Size]byte, len(a.Tokens))
	for i, t := range a.Tokens {
		// A digest that does not decode (token.create checks them) matches
		// nothing: it stays zero, and no token hashes to zero.
		_, _ = hex.Decode(a.digests[i][:], []byte(t.SHA256))
	}
	return a
}

// On reports whether requests must carry a token: once any token exists,
// or when the setting auth.required is true.
func (a *Access) On() bool { return a.Required || len(a.Tokens) > 0 }

// Authenticate returns the token whose digest is secret's SHA-256. It
// compares with every digest, each in constant time, so that the time
// taken says nothing about how close a guess came.
func (a *Access) Authenticate(secret string) (Token, bool) {
	sum := sha256.Sum256([]byte(secret))
	found := -1
	for i := range a.digests {
		if subtle.ConstantTimeCompare(sum[:], a.digests[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Token{}, false
	}
	return a.Tokens[found], true
}

// Role returns the role named name: a built-in one or a custom one.
func (a *Access) Role(name string) (Role, bool) {
	for _, r := range BuiltinRoles() {
		if r.Name == name {
			return r, true
		}
	}
	for _, r := range a.Roles {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}

// Token returns the token with ID key, else the one named key.
func (a *Access) Token(key string) (Token, bool) {
	if i := tokenIndex(a.Tokens, key); i >= 0 {
		return a.Tokens[i], true
	}
	return Token{}, false
}

// TokenDigest is a token's SHA-256 digest as the configuration keeps it.
func TokenDigest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
