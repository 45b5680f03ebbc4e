package cluster

import (
	"slices"
	"strings"
	"testing"
)

// TestRoleFields: a role's entries for a type come down to the fields it
// grants: every one, every one but those withheld, or those listed.
func TestRoleFields(t *testing.T) {
	role := Role{Name: "crm",
		Read:  []string{"Customer.name", "Customer.email", "Order", "-Order.total", "Invoice"},
		Write: []string{"Customer.email", "*", "-Product.price"},
	}
	for _, tc := range []struct {
		write      bool
		typ        string
		want       Fields
		any, whole bool
		has, hasnt []string
	}{
		{false, "Customer", Fields{Names: []string{"email", "name"}}, true, false, []string{"name", "email"}, []string{"id", "salary", "orders"}},
		{false, "Order", Fields{Every: true, Names: []string{"total"}}, true, false, []string{"id", "note", "customer"}, []string{"total"}},
		{false, "Invoice", Fields{Every: true}, true, true, []string{"id", "anything"}, nil},
		{false, "Product", Fields{}, false, false, nil, []string{"sku", "price"}},
		// * grants Customer whole; Customer.email beside it is not
		// allowed by CheckRole, but Fields reads it as granted whole.
		{true, "Customer", Fields{Every: true}, true, true, []string{"email", "name"}, nil},
		{true, "Product", Fields{Every: true, Names: []string{"price"}}, true, false, []string{"sku"}, []string{"price"}},
		// A name with a dot is no type's, though an entry spells it:
		// Customer.email grants a field, not a type of that name.
		{false, "Customer.email", Fields{}, false, false, nil, []string{"email", "id"}},
		{false, "-Order.total", Fields{}, false, false, nil, []string{"total", "id"}},
	} {
		got := role.Fields(tc.write, tc.typ)
		if got.Every != tc.want.Every || !slices.Equal(got.Names, tc.want.Names) {
			t.Errorf("Fields(write %v, %s) = %+v, want %+v", tc.write, tc.typ, got, tc.want)
		}
		if got.Any() != tc.any || got.Whole() != tc.whole {
			t.Errorf("Fields(write %v, %s): Any %v, Whole %v; want %v, %v", tc.write, tc.typ, got.Any(), got.Whole(), tc.any, tc.whole)
		}
		for _, f := range tc.has {
			if !got.Has(f) || !role.Allows(Right{Write: tc.write, Type: true, Object: tc.typ, Field: f}) {
				t.Errorf("Fields(write %v, %s) does not grant %s", tc.write, tc.typ, f)
			}
		}
		for _, f := range tc.hasnt {
			if got.Has(f) || role.Allows(Right{Write: tc.write, Type: true, Object: tc.typ, Field: f}) {
				t.Errorf("Fields(write %v, %s) grants %s", tc.write, tc.typ, f)
			}
		}
		if role.Allows(Right{Write: tc.write, Type: true, Object: tc.typ}) != tc.whole {
			t.Errorf("Allows(write %v, type %s) is not Whole (%v)", tc.write, tc.typ, tc.whole)
		}
	}
	if !role.CanReadField("Customer", "name") || role.CanReadField("Customer", "id") || !role.CanWriteField("Customer", "name") || role.CanWriteField("Product", "price") {
		t.Error("CanReadField and CanWriteField disagree with Fields")
	}
	// Every type, to read or write, is * with nothing withheld.
	if role.Allows(Right{Write: true, Type: true, Object: AllTypes}) || role.Allows(Right{Type: true, Object: AllTypes}) {
		t.Error("a role with * and a field withheld may write every type whole, or one without * read them all")
	}
	if !(Role{Name: "all", Read: []string{"*"}}).Allows(Right{Type: true, Object: AllTypes}) {
		t.Error("* does not read every type")
	}
	admin := BuiltinRoles()[0]
	if f := admin.Fields(true, "Anything"); !f.Whole() || !admin.CanReadField("X", "y") {
		t.Errorf("admin's fields of a type: %+v", f)
	}
	for _, tc := range []struct {
		r    Right
		want string
	}{
		{Right{Type: true, Object: "Customer", Field: "email"}, "read field Customer.email"},
		{Right{Write: true, Type: true, Object: "Customer", Field: "email"}, "write field Customer.email"},
		{Right{Write: true, Type: true, Object: "Customer"}, "write type Customer"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v reads %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestCheckRoleFields: entries on fields are checked for their syntax,
// and for doing something.
func TestCheckRoleFields(t *testing.T) {
	for _, tc := range []struct {
		name        string
		read, write []string
		fail        string // "" when the role is taken
	}{
		{"fields of a type", []string{"Customer.name", "Customer.email"}, nil, ""},
		{"a type but a field", []string{"Customer", "-Customer.salary"}, []string{"Customer.tier"}, ""},
		{"every type but a field", []string{"*", "-Customer.salary", "-Employee.salary"}, nil, ""},
		{"a field whose name starts with _", []string{"Customer._legacy"}, nil, ""},
		{"a field the model may not have yet", []string{"Customer.not_yet"}, nil, ""},
		{"a field withheld of a type not granted", []string{"-Customer.salary"}, nil,
			`read: "-Customer.salary" withholds a field of Customer, which the list does not grant whole (as Customer or *)`},
		{"a field withheld of another type", []string{"Order", "-Customer.salary"}, nil, "which the list does not grant whole"},
		{"a field of a type granted whole", []string{"Customer", "Customer.name"}, nil,
			`read: "Customer.name": Customer grants every field of Customer already (withhold one as -Customer.name)`},
		{"a field of a type * grants", nil, []string{"*", "Customer.name"}, `write: "Customer.name": * grants every field of Customer already`},
		{"a nested field", []string{"Order.shipping_address.city"}, nil,
			`read: "Order.shipping_address.city": rights go to a type's top-level fields only (Order.shipping_address, which holds the fields inside it)`},
		{"a field of no type", []string{"customer.name"}, nil, `read: "customer.name": "customer" is not a type name`},
		{"a field of kv", []string{"kv.x"}, nil, `"kv" is not a type name`},
		{"no field", []string{"Customer."}, nil, `read: "Customer.": "" is not a field name`},
		{"a field with a dash", []string{"Customer.first-name"}, nil, `"first-name" is not a field name`},
		{"a field starting with a digit", []string{"Customer.1st"}, nil, `"1st" is not a field name`},
		{"a whole type withheld", []string{"*", "-Customer"}, nil, `read: "-Customer" is not a type name (letters, digits and _, at most 64, starting with an upper-case letter), a field (Type.field), a field withheld (-Type.field)`},
		{"a field twice", nil, []string{"Customer.name", "Customer.name"}, `write: "Customer.name" is listed twice`},
		{"a long field", []string{"Customer." + strings.Repeat("a", 65)}, nil, "is not a field name (letters, digits and _, at most 64"},
	} {
		err := CheckRole(Role{Name: "r", Read: tc.read, Write: tc.write})
		if (err == nil) != (tc.fail == "") || (err != nil && !strings.Contains(err.Error(), tc.fail)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.fail)
		}
	}
}

// TestRoleFieldsApplied: role.set takes fields, and a role read back
// from the configuration grants what it granted.
func TestRoleFieldsApplied(t *testing.T) {
	c := &Config{Settings: map[string]string{}}
	r := Role{Name: "crm", Read: []string{"*", "-Employee.salary"}, Write: []string{"Customer.tier"}}
	if err := applyEncoded(t, c, SetRole(r)); err != nil {
		t.Fatal(err)
	}
	got, ok := c.Access().Role("crm")
	if !ok || !got.CanReadField("Employee", "name") || got.CanReadField("Employee", "salary") || !got.CanWriteField("Customer", "tier") || got.CanWriteField("Customer", "name") {
		t.Fatalf("role read back: %+v, %v", got, ok)
	}
	if err := applyEncoded(t, c, SetRole(Role{Name: "bad", Read: []string{"-Customer.name"}})); err == nil || !strings.Contains(err.Error(), "role.set: role bad: read:") {
		t.Errorf("role.set of a field withheld from nothing: %v", err)
	}
}

// FuzzCheckRoleFields: CheckRole never panics on any entry, and an entry
// it takes does what its syntax says: Type.field grants that field and
// no other of Type, -Type.field withholds that one field of a type
// granted whole.
func FuzzCheckRoleFields(f *testing.F) {
	for _, s := range []string{"Customer.name", "-Customer.name", "Customer", "*", "kv", "Customer.a.b", "-*", ".", "-", "Customer..x", "-Customer.", "Ö.x"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, entry string, withWhole bool) {
		list := []string{entry}
		if withWhole {
			list = []string{"*", entry}
		}
		r := Role{Name: "fuzz", Read: list}
		if err := CheckRole(r); err != nil {
			if !strings.HasPrefix(err.Error(), "role fuzz: read: ") {
				t.Fatalf("CheckRole(%q): %v: does not say where", list, err)
			}
			return
		}
		e, withheld := strings.CutPrefix(entry, "-")
		typ, field, dotted := strings.Cut(e, ".")
		if !dotted {
			return
		}
		fs := r.Fields(false, typ)
		if withheld != withWhole || fs.Has(field) == withheld || !fs.Any() {
			t.Fatalf("role reading %q: fields of %s are %+v", list, typ, fs)
		}
		if !withheld && fs.Has(field+"x") {
			t.Fatalf("role reading %q grants %s.%sx", list, typ, field)
		}
	})
}
