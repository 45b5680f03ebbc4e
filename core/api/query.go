// Package api holds the query language of the data API: a listing of a
// type's objects, GET /v1/data/{type}?FILTERS&limit=N&after=CURSOR, parsed
// against the data model (ParseQuery), its filters evaluated on objects
// (Filters.Match) by the instances that hold them, and the pages of every
// replicaset merged into one (Merge) with a cursor to the next.
//
// # Query parameters
//
// A filter is a query parameter FIELD=VALUE (equal) or FIELD[OP]=VALUE,
// with OP one of
//
//	eq ne gt ge lt le    equal, not equal, greater (or equal), less (or equal)
//	in                   equal to one of a comma-separated list (at most 100 values)
//	prefix               a string that starts with VALUE
//
// FIELD is a field of the type's latest version, or a path into nested
// records and maps: shipping_address.city, attributes.color (a map's key
// is the segment after it; a key holding "." or "[" cannot be named).
// The field must hold one value: a scalar, an enum or a ref (arrays,
// records and maps as a whole are not compared). VALUE is written as the
// field's type reads it from text:
//
//	string     the text; all ops (ordered byte by byte)
//	enum       one of its values; eq, ne, in
//	int        a decimal integer; eq, ne, gt, ge, lt, le, in
//	float      a decimal number (1.5, -2e3); as int
//	decimal    a decimal number, compared as a number (not as text); as int
//	timestamp  RFC 3339 (2024-01-02T03:04:05Z), compared by time; as int
//	bool       true or false; eq, ne, in
//	bytes      standard base64; eq, ne, in
//	ref        the referenced key as text, as in a URL; eq, ne, in
//
// In a URL query "+" means a space: a timestamp's offset or a base64 "+"
// is sent as %2B. In an in list a value holding "," writes it "\,", and
// "\" as "\\". A field that is null or absent, or inside a null record,
// meets ne and nothing else. Every filter must hold (AND); a parameter
// given twice is two filters.
//
// The other parameters: limit (objects per page, 1 to 1000, default
// 100), after (the cursor of the page before, the answer's "next"),
// order and consistency (linearizable, the default, or stale). A field
// named like one of them (limit, after, order, consistency) is filtered
// with the explicit form, limit[eq]=5.
//
// order=INDEX lists in the order of one of the type's indexes, and
// order=-INDEX in the reverse order; order=_key (the default) and
// order=-_key in primary key order. In an index's order the objects
// come by the index's values (as the index stores them: an enum by its
// text, a number by its value), then by primary key; the objects that
// have a null in one of the index's fields come after all the others (a
// reverse order is the mirror image: they come first). The order is
// that of the entries storage holds: an object written before a model
// revision changed the index, and not written since, stands where the
// index as it was put it (kv.ListOrder).
//
// A listing in primary key order (either way) whose filters hold an eq
// on every field of one of the type's non-unique indexes (top-level
// fields: customer_id=c1 for an index on [customer_id]) reads only that
// index's entries of those values, in primary key order, rather than
// every object of the type (Plan); the filters still judge each object
// it finds. It lists what the scan would, in the same order: until a
// replicaset's leader knows every object it stores has the entries of
// the model in force (its migration has made a whole pass since the
// model or its term changed, rewriting objects whose entries are not the
// model's), that replicaset reads its objects instead
// (kv.ListOrder.ByScan), with the same answer.
//
// # Pages and cursors
//
// Each replicaset answers a page (Page): its matching objects after the
// cursor, in the listing's order, up to the limit, and whether it has
// more.
// It examines at most ScanBound(limit) stored objects for it, so a filter
// that matches little never makes one page read a whole replicaset; a page
// cut short says how far it looked (Page.Last). Merge takes the first
// limit objects in the listing's order below the smallest place where a
// replicaset stopped looking, and the cursor continues after the last of
// them (or after that place). A page may be short, even empty, and still
// have a next. In primary key order, following cursors until there is
// none lists every object that matched throughout, once, in the
// listing's order. In an index's order that holds only for the objects
// whose place in the order stays put while the listing runs: an object
// whose indexed value changes between two pages moves, and is listed
// twice when it moves from behind the cursor to ahead of it, or never
// when it moves the other way. An index's order reaches the objects
// with a null in the index by reading past all the others, so its last
// pages read the whole type and may come back empty. A cursor is bound
// to its type, filters and order (a hash of them): used with others it
// is refused, and it stays valid when its object is deleted.
//
// Each replicaset's page is a read of its own (linearizable, or stale when
// asked), but the listing is not one snapshot: pages are read at different
// times, so an object written while a listing runs may appear or not, and
// one that changes may show its state of either page.
package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/yamlcheck"
)

// Limits of a listing.
const (
	// DefaultLimit is a page's size when the query names none.
	DefaultLimit = 100
	// MaxLimit bounds a page (kv.MaxListPage).
	MaxLimit = 1000
	// MaxScan bounds the stored objects one replicaset examines for a page
	// (kv.MaxListScan).
	MaxScan = 10 * MaxLimit
	// MaxCursorKey bounds the position a cursor holds
	// (kv.MaxListPosition): a phase byte, an index key of at most 4 KiB
	// escaped, a byte and a primary key of at most 4 KiB.
	MaxCursorKey = 1 + 2*(4<<10) + 2 + 1 + (4 << 10)
)

// The query parameters other than filters, and the consistencies.
const (
	ParamLimit       = "limit"
	ParamAfter       = "after"
	ParamOrder       = "order"
	ParamConsistency = "consistency"

	// KeyOrder names primary key order in order=.
	KeyOrder = "_key"

	ConsistencyLinearizable = "linearizable"
	ConsistencyStale        = "stale"
)

// Query is a parsed listing of a type's objects.
type Query struct {
	Type    string
	Filters Filters
	// Limit is the page's size, 1 to MaxLimit.
	Limit int
	// Order is the listing's order.
	Order Order
	// Plan is the order storage reads the listing in: Plan of the
	// type, the filters and Order. After is a position in it.
	Plan Order
	// After is the position in Plan the page starts after ("": from the
	// first), from the cursor: an encoded primary key in primary key
	// order.
	After string
	// Stale asks each replicaset for a stale read.
	Stale bool
}

// Order is the order of a listing: by one of its type's indexes (Index),
// or by primary key (Index ""), ascending, or descending with Desc
// (kv.ListOrder).
//
// Exact, with Index, narrows the listing to the objects whose entry in
// Index has the key Key (kv.ListOrder): not an order a query names, but
// the one Plan picks to read for a listing whose filters fix an index.
type Order struct {
	Index string
	Desc  bool
	Exact bool
	Key   string
}

// maxIndexKey bounds an index key (kv.MaxIndexKeyLen): no object has an
// entry with a longer one.
const maxIndexKey = 4 << 10

// Plan is the order in which storage reads a listing of t's objects
// that meet fs, asked in the order o: an exact index key (Order.Exact)
// when o is primary key order, either way, and fs hold an eq on every
// field of one of t's indexes (top-level fields, one value each), and o
// otherwise. Within one key of an index the entries stand in primary key
// order (one object a key, for a unique index), so reading them lists
// the matches in o's order, and reads only the objects of that key
// rather than every object of the type; the filters are still evaluated
// on each (the index only narrows the read). Only non-unique indexes
// are read so. Among the indexes that fit,
// the one with the most fields is read, the first declared of those
// with as many. Plan is a function of its arguments, so a listing's
// pages all read the same way; the key is model.Type.IndexKey of the
// filters' values, what the index stores for an object that holds them.
// An index order asked for is left as it is.
func Plan(t *model.Type, fs Filters, o Order) Order {
	if o.Index != "" || o.Exact {
		return o
	}
	plan, fields := o, 0
	for _, ix := range t.Indexes {
		if ix.Unique || len(ix.Fields) <= fields {
			// A unique index's entry can be taken from an object by a
			// change replicated from another cluster (core/kv): the key
			// then lists the newcomer and not the object that still holds
			// the value, which a scan finds.
			continue
		}
		values := make([]any, len(ix.Fields))
		fixed := true
		for i, name := range ix.Fields {
			values[i], fixed = fs.eqValue(name)
			if !fixed {
				break
			}
		}
		if !fixed {
			continue
		}
		key, ok, err := t.IndexKey(ix.Name, values)
		if err != nil || !ok || len(key) > maxIndexKey {
			// A value no object's field holds: the scan finds none, as
			// the index would, and only the scan is sure to.
			continue
		}
		plan, fields = Order{Index: ix.Name, Desc: o.Desc, Exact: true, Key: key}, len(ix.Fields)
	}
	return plan
}

// eqValue is the value the first eq filter on the top-level field name
// fixes, as an object's field holds it (a ref's as its text, which
// model.Type.IndexKey reads).
func (fs Filters) eqValue(name string) (any, bool) {
	for _, f := range fs {
		if f.Op != OpEq || len(f.Path) != 1 || f.Path[0] != name || len(f.Values) != 1 {
			continue
		}
		// Each kind's value is in an object's form already (a timestamp
		// as time.Time, which the model normalizes as it does text),
		// but for a ref, whose text IndexKey reads.
		return f.Values[0], true
	}
	return nil, false
}

// Compare orders two positions in o (a primary key, or
// kv.ListOrder.Position's): negative when a comes before b, positive
// when after, 0 when they are the same. Positions compare byte by byte,
// reversed when o is descending; "" (the start of a listing) comes
// before every position in either direction.
func (o Order) Compare(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	case o.Desc:
		return strings.Compare(b, a)
	}
	return strings.Compare(a, b)
}

// String writes the order as order= reads it.
func (o Order) String() string {
	s := o.Index
	if s == "" {
		s = KeyOrder
	}
	if o.Desc {
		s = "-" + s
	}
	return s
}

// parseOrder reads order=: INDEX or -INDEX, an index of t, or _key or
// -_key.
func parseOrder(t *model.Type, s string) (Order, error) {
	var o Order
	name, desc := strings.CutPrefix(s, "-")
	o.Desc = desc
	if name == KeyOrder {
		return o, nil
	}
	names := []string{KeyOrder}
	for _, ix := range t.Indexes {
		if ix.Name == name {
			o.Index = name
			return o, nil
		}
		names = append(names, ix.Name)
	}
	return Order{}, fmt.Errorf("%s %s: %s has no index %s%s: want INDEX, or -INDEX for the reverse order",
		ParamOrder, quote(s), t.Name, quote(name), yamlcheck.Hint(name, names))
}

// Match reports whether obj, decoded from its JSON in the latest shape
// of the query's type, meets every filter.
func (q *Query) Match(obj model.Object) bool { return q.Filters.Match(obj) }

// ScanBound is how many stored objects a replicaset examines for a page
// of limit objects: ten times the limit, at least 1000, at most MaxScan.
func ScanBound(limit int) int { return min(max(10*limit, 1000), MaxScan) }

// ParseQuery reads a listing of t's objects from a URL's query: filters
// on t's latest version, limit, after and consistency (the package doc
// has the syntax). Parameters are read in name order and the first
// problem is the error, naming the parameter: `filter "age[gt]": "x" is
// not an integer`.
func ParseQuery(t *model.Type, values url.Values) (Query, error) {
	q := Query{Type: t.Name, Limit: DefaultLimit}
	var cursor string
	haveCursor := false
	for _, name := range slices.Sorted(maps.Keys(values)) {
		vs := values[name]
		switch name {
		case ParamLimit, ParamAfter, ParamOrder, ParamConsistency:
			if len(vs) != 1 {
				return Query{}, fmt.Errorf("%s: given %d times, want once", name, len(vs))
			}
		}
		switch name {
		case ParamLimit:
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 1 || n > MaxLimit {
				return Query{}, fmt.Errorf("%s %s: want a number from 1 to %d", name, quote(vs[0]), MaxLimit)
			}
			q.Limit = n
		case ParamAfter:
			cursor, haveCursor = vs[0], true
		case ParamOrder:
			o, err := parseOrder(t, vs[0])
			if err != nil {
				return Query{}, err
			}
			q.Order = o
		case ParamConsistency:
			switch vs[0] {
			case ConsistencyLinearizable:
			case ConsistencyStale:
				q.Stale = true
			default:
				return Query{}, fmt.Errorf("%s %s: want %s or %s", name, quote(vs[0]), ConsistencyLinearizable, ConsistencyStale)
			}
		default:
			for _, v := range vs {
				f, err := parseFilter(t, name, v)
				if err != nil {
					return Query{}, err
				}
				if len(q.Filters) == MaxFilters {
					return Query{}, fmt.Errorf("filter %s: more than %d filters", quote(name), MaxFilters)
				}
				q.Filters = append(q.Filters, f)
			}
		}
	}
	// In the order of their encodings, so that the order of parameters
	// changes neither the encoding nor the cursors bound to it.
	slices.SortStableFunc(q.Filters, func(a, b Filter) int { return bytes.Compare(a.appendTo(nil), b.appendTo(nil)) })
	if n := len(q.Filters.Encode()); n > MaxFilterBytes {
		return Query{}, fmt.Errorf("filters: %d bytes encoded, over %d: filter on fewer or shorter values", n, MaxFilterBytes)
	}
	q.Plan = Plan(t, q.Filters, q.Order)
	if haveCursor {
		after, err := q.readCursor(cursor)
		if err != nil {
			return Query{}, err
		}
		q.After = after
	}
	return q, nil
}

// parseFilter reads one filter, the parameter name and one of its values.
func parseFilter(t *model.Type, name, value string) (Filter, error) {
	fail := func(format string, args ...any) (Filter, error) {
		return Filter{}, fmt.Errorf("filter %s: %s", quote(name), fmt.Sprintf(format, args...))
	}
	field, op := name, OpEq
	if i := strings.IndexByte(name, '['); i >= 0 {
		if !strings.HasSuffix(name, "]") || i == len(name)-1 {
			return fail("want FIELD=VALUE or FIELD[OP]=VALUE")
		}
		text := name[i+1 : len(name)-1]
		if text == "" {
			return fail("want FIELD=VALUE or FIELD[OP]=VALUE")
		}
		var ok bool
		if op, ok = parseOp(text); !ok {
			return fail("unknown operator %s%s", quote(text), yamlcheck.Hint(text, opNames[OpEq:]))
		}
		field = name[:i]
	}
	if field == "" {
		return fail("want FIELD=VALUE or FIELD[OP]=VALUE")
	}
	path := strings.Split(field, ".")
	if len(path) > MaxPath {
		return fail("a path of %d fields, at most %d", len(path), MaxPath)
	}
	ft, err := resolve(t, path, name)
	if err != nil {
		return Filter{}, fmt.Errorf("filter %s: %w", quote(name), err)
	}
	f := Filter{Param: name, Path: path, Op: op, Kind: kindOf(ft)}
	if !takes(f.Kind, op) || ft.Kind == model.Enum && op != OpEq && op != OpNe && op != OpIn {
		return fail("%s is %s: it takes %s", field, article(ft), strings.Join(opsOf(ft), ", "))
	}
	texts := []string{value}
	if op == OpIn {
		if texts, err = splitList(value); err != nil {
			return fail("%v", err)
		}
		if len(texts) > MaxIn {
			return fail("%d values, at most %d", len(texts), MaxIn)
		}
	}
	for _, text := range texts {
		v, err := parseValue(ft, text)
		if err != nil {
			return fail("%s %v", quote(text), err)
		}
		f.Values = append(f.Values, v)
	}
	return f, nil
}

// resolve finds the type of the field a path names in t's latest version.
func resolve(t *model.Type, path []string, param string) (*model.FieldType, error) {
	fields := t.Versions[len(t.Versions)-1].Fields
	var ft *model.FieldType
	where := t.Name
	for i, seg := range path {
		if seg == "" {
			return nil, fmt.Errorf("an empty field name in %s", quote(strings.Join(path, ".")))
		}
		if ft != nil {
			switch ft.Kind {
			case model.Record:
				fields = ft.Fields
			case model.Map:
				ft = ft.Elem
				where = strings.Join(path[:i+1], ".")
				continue
			default:
				return nil, fmt.Errorf("%s is %s: it has no field %s", where, article(ft), quote(seg))
			}
		}
		var found *model.Field
		names := make([]string, 0, len(fields)+3)
		for _, f := range fields {
			names = append(names, f.Name)
			if f.Name == seg {
				found = f
			}
		}
		if found == nil {
			if i == 0 {
				names = append(names, ParamLimit, ParamAfter, ParamOrder, ParamConsistency)
			}
			return nil, fmt.Errorf("%s has no field %s%s", where, quote(seg), yamlcheck.Hint(seg, names))
		}
		ft = found.Type
		where = strings.Join(path[:i+1], ".")
	}
	switch ft.Kind {
	case model.Array:
		return nil, fmt.Errorf("%s is an array: a filter compares one value", where)
	case model.Record, model.Map:
		return nil, fmt.Errorf("%s is a %s: filter one of its fields (%s.FIELD)", where, ft.Kind, where)
	}
	return ft, nil
}

// kindOf is how values of a scalar, enum or ref type compare.
func kindOf(ft *model.FieldType) Kind {
	switch ft.Kind {
	case model.Int:
		return KindInt
	case model.Float:
		return KindFloat
	case model.Bool:
		return KindBool
	case model.Bytes:
		return KindBytes
	case model.Timestamp:
		return KindTimestamp
	case model.Decimal:
		return KindDecimal
	case model.Ref:
		return KindRef
	}
	return KindString // string, enum
}

// article names a field type for a message: "a string", "an enum",
// "bytes".
func article(ft *model.FieldType) string {
	k := string(ft.Kind)
	switch ft.Kind {
	case model.Ref:
		return "a ref to " + ft.Ref
	case model.Bytes:
		return k
	}
	if strings.ContainsRune("aeiou", rune(k[0])) {
		return "an " + k
	}
	return "a " + k
}

// opsOf lists the operators a field type takes.
func opsOf(ft *model.FieldType) []string {
	var ops []string
	for o := OpEq; o <= lastOp; o++ {
		if takes(kindOf(ft), o) && (ft.Kind != model.Enum || o == OpEq || o == OpNe || o == OpIn) {
			ops = append(ops, o.String())
		}
	}
	return ops
}

// splitList splits an in list at its commas; "\," is a comma in a value
// and "\\" a backslash.
func splitList(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',':
			out = append(out, cur.String())
			cur.Reset()
		case '\\':
			if i+1 == len(s) || (s[i+1] != ',' && s[i+1] != '\\') {
				return nil, fmt.Errorf(`in list %s: "\" escapes only "," and "\" (write "\\" for a backslash)`, quote(s))
			}
			i++
			cur.WriteByte(s[i])
		default:
			cur.WriteByte(c)
		}
		if len(out) > MaxIn {
			break
		}
	}
	return append(out, cur.String()), nil
}

// parseValue reads a filter's value for a field of type ft from text, in
// the form Filter.Values holds.
func parseValue(ft *model.FieldType, s string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("is not valid UTF-8")
	}
	plus := ""
	if strings.Contains(s, " ") {
		plus = ` (a "+" in a URL query is a space: send it as %2B)`
	}
	switch ft.Kind {
	case model.Int:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("is not an integer")
		}
		return i, nil
	case model.Float:
		if !model.IsDecimalLiteral(s) {
			return nil, fmt.Errorf("is not a number")
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(x, 0) {
			return nil, fmt.Errorf("is out of the float range")
		}
		return x + 0, nil // +0 turns -0 into 0
	case model.Decimal:
		d, err := model.CanonicalDecimal(s)
		switch {
		case errors.Is(err, model.ErrDecimalRange):
			return nil, fmt.Errorf("is out of the decimal range")
		case err != nil:
			return nil, fmt.Errorf("is not a decimal")
		}
		return d, nil
	case model.Bool:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("is not true or false")
	case model.Bytes:
		b, err := canonicalBytes(s)
		if err != nil {
			return nil, fmt.Errorf("is not standard base64%s", plus)
		}
		return b, nil
	case model.Timestamp:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("is not an RFC 3339 timestamp%s", plus)
		}
		if t = t.UTC(); t.Year() < 0 || t.Year() > 9999 {
			return nil, fmt.Errorf("is out of the timestamp range (years 0000..9999 in UTC)")
		}
		return t, nil
	case model.Enum:
		if !slices.Contains(ft.Values, s) {
			return nil, fmt.Errorf("is not one of %s", strings.Join(ft.Values, ", "))
		}
	}
	return s, nil
}

// Cursor is the cursor of the page that continues after the position
// pos (Query.After): opaque to clients (base64url), bound to the query's
// type, filters and order.
func (q *Query) Cursor(pos string) string {
	h := q.hash()
	b := append([]byte{cursorVersion}, h[:]...)
	return base64.RawURLEncoding.EncodeToString(append(b, pos...))
}

const cursorVersion = 1

// hash binds a cursor to the query's type, filters and order (primary
// key order adds nothing, so that the cursors made before there were
// orders stay valid), and to the index its plan reads, if any: its
// positions are that index's, and a model revision that adds or drops
// an index between two pages changes the plan, which must not read the
// other's positions.
func (q *Query) hash() [8]byte {
	s := sha256.New()
	s.Write([]byte(q.Type))
	s.Write([]byte{0})
	s.Write(q.Filters.Encode())
	if q.Order != (Order{}) {
		s.Write([]byte{0})
		s.Write([]byte(q.Order.String()))
	}
	if q.Plan.Exact {
		// The key too: a model change may give the index other fields
		// under its name, and a position of the old key would then be
		// read as one of the new.
		s.Write([]byte{0, '='})
		s.Write([]byte(q.Plan.Index))
		s.Write([]byte{0})
		s.Write([]byte(q.Plan.Key))
	}
	var h [8]byte
	copy(h[:], s.Sum(nil))
	return h
}

// readCursor reads a cursor made by Cursor for a query of the same type,
// filters and order, and returns its position.
func (q *Query) readCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil || len(b) < 10 || b[0] != cursorVersion {
		return "", fmt.Errorf("%s %s: not a cursor (a cursor is the \"next\" of a listing's answer)", ParamAfter, quote(c))
	}
	if len(b)-9 > MaxCursorKey {
		return "", fmt.Errorf("%s: a cursor of a position of %d bytes, over %d", ParamAfter, len(b)-9, MaxCursorKey)
	}
	if h := q.hash(); string(b[1:9]) != string(h[:]) {
		return "", fmt.Errorf("%s: the cursor belongs to a listing of another type or with other filters or order, "+
			"or one the model has changed under (an index added or changed): "+
			"repeat that listing's filters and order, or start again without %s", ParamAfter, ParamAfter)
	}
	return string(b[9:]), nil
}
