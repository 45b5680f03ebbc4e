package graphql

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/model"
)

// Bounds of a where argument.
const (
	maxWhereTerms = 256 // filters and where objects (empty ones too) in one where
	maxWhereDepth = 16  // and/or nested in one another
	maxWhereItems = 64  // items of one and or or list
)

// where is a compiled where argument: every filter and every item of and
// must hold, and one item of or when there is one.
type where struct {
	filters api.Filters
	and, or []*where
}

// match evaluates the whole where on an object.
func (w *where) match(obj model.Object) bool {
	if w == nil {
		return true
	}
	if !w.filters.Match(obj) {
		return false
	}
	for _, a := range w.and {
		if !a.match(obj) {
			return false
		}
	}
	if len(w.or) == 0 {
		return true
	}
	for _, o := range w.or {
		if o.match(obj) {
			return true
		}
	}
	return false
}

// conjunction collects the filters that every match meets (the where's
// own and those of its and items), which storage evaluates; ors are left
// to match.
func (w *where) conjunction(fs api.Filters) api.Filters {
	if w == nil {
		return fs
	}
	fs = append(fs, w.filters...)
	for _, a := range w.and {
		fs = a.conjunction(fs)
	}
	return fs
}

// residual reports whether match may refuse what the conjunction keeps.
func (w *where) residual() bool {
	if w == nil {
		return false
	}
	if len(w.or) > 0 {
		return true
	}
	return slices.ContainsFunc(w.and, (*where).residual)
}

// encode writes the where canonically, for the cursor's binding.
func (w *where) encode(b []byte) []byte {
	if w == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	for _, f := range w.filters {
		enc := api.Filters{f}.Encode()
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	b = append(b, 'A')
	for _, a := range w.and {
		b = a.encode(b)
	}
	b = append(b, 'O')
	for _, o := range w.or {
		b = o.encode(b)
	}
	return append(b, 'E')
}

// compileWhere reads a where argument on t's latest version.
func compileWhere(t *model.Type, v any, depth int, terms *int) (*where, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not an input object", describeInput(v))
	}
	if depth > maxWhereDepth {
		return nil, fmt.Errorf("and and or nested more than %d deep", maxWhereDepth)
	}
	// Every object counts, so that empty ones, which match walks as
	// well, cannot make a where of any size.
	*terms++
	if *terms > maxWhereTerms {
		return nil, fmt.Errorf("more than %d filters and where objects", maxWhereTerms)
	}
	w := &where{}
	for _, k := range sortedKeys(m) {
		switch k {
		case "and", "or":
			items, ok := m[k].([]any)
			if !ok {
				if m[k] == nil {
					continue
				}
				items = []any{m[k]}
			}
			if len(items) > maxWhereItems {
				return nil, fmt.Errorf("%s: %d items, at most %d", k, len(items), maxWhereItems)
			}
			for _, item := range items {
				sub, err := compileWhere(t, item, depth+1, terms)
				if err != nil {
					return nil, err
				}
				if k == "and" {
					w.and = append(w.and, sub)
				} else {
					w.or = append(w.or, sub)
				}
			}
		default:
			if err := w.field(t, latestFields(t), []string{k}, m[k], terms); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

// field adds the filters on the field at path (a field of fields, the
// last segment) given as {op: value} or, for a record, {field: ...}.
func (w *where) field(t *model.Type, fields []*model.Field, path []string, v any, terms *int) error {
	name := path[len(path)-1]
	i := slices.IndexFunc(fields, func(f *model.Field) bool { return f.Name == name })
	if i < 0 {
		return fmt.Errorf("%s has no field %s", t.Name, strings.Join(path, "."))
	}
	ft := fields[i].Type
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return nil
		}
		return fmt.Errorf("%s: %s is not an input object", strings.Join(path, "."), describeInput(v))
	}
	if ft.Kind == model.Record {
		for _, k := range sortedKeys(m) {
			if err := w.field(t, ft.Fields, append(slices.Clone(path), k), m[k], terms); err != nil {
				return err
			}
		}
		return nil
	}
	for _, op := range sortedKeys(m) {
		x := m[op]
		if x == nil {
			continue
		}
		*terms++
		if *terms > maxWhereTerms {
			return fmt.Errorf("more than %d filters and where objects", maxWhereTerms)
		}
		var text string
		if op == "in" {
			items, ok := x.([]any)
			if !ok {
				items = []any{x}
			}
			if len(items) == 0 {
				return fmt.Errorf("%s: in: an empty list", strings.Join(path, "."))
			}
			if len(items) > api.MaxIn {
				return fmt.Errorf("%s: in: %d values, at most %d", strings.Join(path, "."), len(items), api.MaxIn)
			}
			parts := make([]string, len(items))
			for j, item := range items {
				s, err := valueText(item)
				if err != nil {
					return fmt.Errorf("%s: in: %w", strings.Join(path, "."), err)
				}
				parts[j] = strings.NewReplacer(`\`, `\\`, `,`, `\,`).Replace(s)
			}
			text = strings.Join(parts, ",")
		} else {
			s, err := valueText(x)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", strings.Join(path, "."), op, err)
			}
			text = s
		}
		f, err := parseFilter(t, path, op, text)
		if err != nil {
			return err
		}
		w.filters = append(w.filters, f)
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m { //detlint:unordered sorted below
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// listing is a connection's arguments, read.
type listing struct {
	t       *model.Type
	fixed   api.Filters // a relation's
	where   *where
	sort    string // keySort or an index
	desc    bool
	plan    api.Order // what storage reads (api.Plan)
	first   int
	after   string // the cursor's payload; "" from the first
	binding [8]byte
}

// connection lists a page of t's objects that meet fixed and the where
// of args.
func (e *executor) connection(t *model.Type, fixed api.Filters, args map[string]any) (*connValue, error) {
	if err := e.checkListing(t, args); err != nil {
		return nil, err
	}
	l := listing{t: t, fixed: fixed, sort: keySort, first: DefaultFirst}
	if v, ok := args["first"]; ok && v != nil {
		n, ok := toInt64(v)
		if !ok || n < 0 || n > MaxFirst {
			return nil, fmt.Errorf("first: %s: want 0 to %d", describeInput(v), MaxFirst)
		}
		l.first = int(n)
	}
	if v, ok := args["where"]; ok && v != nil {
		terms := 0
		w, err := compileWhere(t, v, 0, &terms)
		if err != nil {
			return nil, fmt.Errorf("where: %w", err)
		}
		if err := e.checkWhere(t, w); err != nil {
			return nil, fmt.Errorf("where: %w", err)
		}
		l.where = w
	}
	if v, ok := args["orderBy"].(map[string]any); ok {
		if by, ok := v["by"].(string); ok {
			if by != keySort && !slices.ContainsFunc(t.Indexes, func(ix model.Index) bool { return ix.Name == by }) {
				return nil, fmt.Errorf("orderBy: %s has no index %s", t.Name, by)
			}
			l.sort = by
		}
		l.desc = v["direction"] == "DESC"
	}
	l.plan = api.Plan(t, l.pushdown(), l.order())
	l.binding = l.bind()
	if v, ok := args["after"]; ok && v != nil {
		s, _ := v.(string)
		after, err := l.readCursor(s)
		if err != nil {
			return nil, err
		}
		l.after = after
	}
	return e.ordered(&l)
}

// order is the listing's order as Data.List takes it.
func (l *listing) order() api.Order {
	if l.sort == keySort {
		return api.Order{Desc: l.desc}
	}
	return api.Order{Index: l.sort, Desc: l.desc}
}

// pushdown is what storage filters on: the relation's filters and the
// where's conjunction, as many as a listing takes.
func (l *listing) pushdown() api.Filters {
	fs := l.where.conjunction(slices.Clone(l.fixed))
	if len(fs) > api.MaxFilters {
		fs = fs[:api.MaxFilters]
	}
	for len(fs) > 0 && len(fs.Encode()) > api.MaxFilterBytes {
		fs = fs[:len(fs)-1]
	}
	return fs
}

// ordered pages through the matches in the listing's order, which
// storage keeps (by key, or by an index; in key order through the
// entries of one key of an index when the filters fix one, api.Plan,
// which lists the same objects in the same order): List calls ask for what the
// page still lacks (a batch at least, when an or is left to the
// executor), at most maxRounds of them. A page whose rounds run out
// answers what it found with hasNextPage and an endCursor where the scan
// stopped.
func (e *executor) ordered(l *listing) (*connValue, error) {
	fs := l.pushdown()
	residual := l.where.residual() || len(fs) < len(l.where.conjunction(slices.Clone(l.fixed)))
	need := l.first + 1
	after := l.after
	var items []Stored
	for range maxRounds {
		limit := need - len(items)
		if residual {
			limit = max(limit, maxBatch)
		}
		page, err := e.list(l.t, fs, l.plan, after, min(limit, api.MaxLimit))
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			if l.where.match(it.Object) {
				items = append(items, it)
				if len(items) == need {
					break
				}
			}
		}
		if len(items) == need {
			return l.page(items[:l.first], true, ""), nil
		}
		if !page.More {
			return l.page(items, false, ""), nil
		}
		after = page.Last
	}
	return l.page(items, true, after), nil
}

// page makes the connection of items; stop is where a scan that ran out
// of rounds stopped ("": it did not).
func (l *listing) page(items []Stored, more bool, stop string) *connValue {
	c := &connValue{edges: make([]any, 0, len(items)), page: pageInfo{hasNext: more}}
	for _, it := range items {
		cur := l.cursor(it.Position)
		c.edges = append(c.edges, edgeValue{node: &objValue{t: l.t, st: it}, cursor: cur})
		c.page.end = cur
	}
	if stop != "" {
		c.page.end = l.cursor(stop)
	}
	return c
}

const cursorVersion = 1

// bind hashes what a cursor is bound to: the type, the where, the order
// and the index a plan reads, whose positions the cursor holds (a
// relation's filters are not: a cursor of one customer's orders
// continues another's where that position stands among its own).
func (l *listing) bind() [8]byte {
	b := []byte(l.t.Name)
	b = append(b, 0)
	b = append(b, l.sort...)
	b = append(b, 0)
	if l.desc {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if l.sort != keySort {
		// An index's positions are storage's since storage orders by
		// it: the cursors of the executor's sort, whose positions were
		// its own, are refused as another listing's.
		b = append(b, 2)
	}
	b = l.where.encode(b)
	if l.plan.Exact {
		// The key too: a model change may give the index other fields
		// under its name, and one parent's key is not another's (a
		// relation's cursor holds its parent's key in its positions).
		b = append(b, '=')
		b = append(b, l.plan.Index...)
		b = append(b, 0)
		b = append(b, l.plan.Key...)
	}
	sum := sha256.Sum256(b)
	var h [8]byte
	copy(h[:], sum[:])
	return h
}

// cursor is the opaque cursor of a position: base64url of a version
// byte, the binding and the position.
func (l *listing) cursor(pos string) string {
	b := append([]byte{cursorVersion}, l.binding[:]...)
	return base64.RawURLEncoding.EncodeToString(append(b, pos...))
}

func (l *listing) readCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil || len(b) < 10 || b[0] != cursorVersion {
		return "", fmt.Errorf("after: %s is not a cursor (a cursor is an edge's cursor or pageInfo's endCursor)", describeInput(c))
	}
	if len(b)-9 > api.MaxCursorKey {
		return "", errors.New("after: the cursor is too long")
	}
	if string(b[1:9]) != string(l.binding[:]) {
		return "", errors.New("after: the cursor belongs to a listing of another type, where or orderBy")
	}
	return string(b[9:]), nil
}
