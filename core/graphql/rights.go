package graphql

import (
	"slices"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/shoaldb/shoal/core/model"
)

// Rights on single fields. A field the caller may not read is refused
// where it is selected (resolveObject). The checks here refuse what
// would tell its values without selecting it: a where filter keeps the
// objects whose value it matches; an orderBy by an index sorts by its
// entries, and its cursors carry them, which may hold fields the index
// had before a model revision changed it: it takes read of every field
// of the type; a relation finds its target by its fields on both sides. Writes: insertT and deleteT write
// every field and take CanWrite; updateT writes the fields its patch
// names, each of which takes CanWriteField when CanWrite does not hold.
// An update whose patch names a field the caller may not read is
// written even when it changes nothing, so that _revision does not tell
// whether the values were the patch's already.

// canReadField reports whether the caller may read field of t.
func (e *executor) canReadField(t *model.Type, field string) bool {
	return e.rights.CanRead(t.Name) && e.rights.CanReadField(t.Name, field)
}

// checkListing refuses a connection of t ordered by an index when the
// caller may not read every field of t: an index's entries, which place
// the objects and which its cursors carry, may hold fields it has since
// lost when a model revision changed its fields (core/kv's ListOrder),
// so reading the index's fields today is not enough. The where is
// checked once compiled (checkWhere).
func (e *executor) checkListing(t *model.Type, args map[string]any) error {
	order, _ := args["orderBy"].(map[string]any)
	by, _ := order["by"].(string)
	if by == keySort || !slices.ContainsFunc(t.Indexes, func(ix model.Index) bool { return ix.Name == by }) {
		// The key is read with any field; an index t lacks is
		// connection's to refuse.
		return nil
	}
	if !e.rights.CanReadWhole(t.Name) {
		return codedf(CodeForbidden, "orderBy: ordering by index %s takes read of every field of %s, which the caller lacks (order by _key instead)", by, t.Name)
	}
	return nil
}

// checkWhere refuses a compiled where with a filter on a field the
// caller may not read, wherever it is: in the where itself, or in an
// and or an or item at any depth. It walks what compileWhere made, the
// filters the listing runs, so that no count of its own can stop short
// of one.
func (e *executor) checkWhere(t *model.Type, w *where) error {
	if w == nil {
		return nil
	}
	for _, f := range w.filters {
		if field := f.Path[0]; !e.canReadField(t, field) {
			return codedf(CodeForbidden, "%s: not allowed to read %s.%s, so not to filter on it", field, t.Name, field)
		}
	}
	for _, sub := range slices.Concat(w.and, w.or) {
		if err := e.checkWhere(t, sub); err != nil {
			return err
		}
	}
	return nil
}

// checkRelation refuses to follow the relation r of an object of t to
// target when the caller may not read the fields it joins on: which
// objects it finds would tell their values.
func (e *executor) checkRelation(t *model.Type, r model.Relation, target *model.Type) error {
	for i, from := range r.From {
		if !e.canReadField(t, from) {
			return codedf(CodeForbidden, "relation %s: not allowed to read %s.%s, by which it finds its %s", r.Name, t.Name, from, target.Name)
		}
		if i < len(r.To) && !e.canReadField(target, r.To[i]) {
			return codedf(CodeForbidden, "relation %s: not allowed to read %s.%s, by which it is found", r.Name, target.Name, r.To[i])
		}
	}
	return nil
}

// checkWrite refuses the mutation f of t when the caller may not make
// it: insertT and deleteT take CanWrite; updateT takes CanWrite, or
// CanWriteField of every field its patch names (and a patch that names
// none takes CanWrite).
func (e *executor) checkWrite(t *model.Type, f *ast.Field) error {
	if e.rights.CanWrite(t.Name) {
		return nil
	}
	if _, update := e.s.update[f.Name]; !update {
		return codedf(CodeForbidden, "not allowed to write %s", t.Name)
	}
	patch, _ := e.args(f)["patch"].(map[string]any)
	if len(patch) == 0 {
		return codedf(CodeForbidden, "not allowed to write %s: an update whose patch names no field takes write of the whole type", t.Name)
	}
	for _, name := range sortedKeys(patch) {
		if !e.rights.CanWriteField(t.Name, name) {
			return codedf(CodeForbidden, "patch: not allowed to write %s.%s", t.Name, name)
		}
	}
	return nil
}

// blindPatch reports whether patch names a field of t the caller may
// not read: update then writes it even when it changes nothing.
func (e *executor) blindPatch(t *model.Type, patch map[string]any) bool {
	return slices.ContainsFunc(sortedKeys(patch), func(name string) bool { return !e.canReadField(t, name) })
}
