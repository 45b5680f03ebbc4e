package graphql

import (
	"errors"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/model"
)

// Stored is an object as storage holds it, in the latest shape of its
// type's model version.
type Stored struct {
	Key      string       // the encoded primary key (model.Type.PrimaryKey)
	Object   model.Object // normalized
	Version  int          // the model version of Object's shape
	Revision int64        // the log index of the write that last changed it
	// Position is, in what List answers, the object's place in the
	// listing's order, which after takes to continue after it: Key in
	// primary key order, storage's position in an index's (opaque here;
	// positions compare byte by byte as the ascending order does).
	Position string
}

// Condition is what a write requires of the object it replaces; the zero
// Condition requires nothing.
type Condition struct {
	IfAbsent   bool  // no object has the key
	IfRevision int64 // the object has this revision (0: any)
}

// ErrCondition is what Data returns, wrapped or not, for a write whose
// Condition does not hold.
var ErrCondition = errors.New("the condition of the write does not hold")

// Data is the storage a query runs against; the caller implements it
// with the cluster (core/live with list-objects and get-object reads) or
// in memory. Every method is one read or write: the executor counts
// them against Limits.MaxCalls.
type Data interface {
	// Get reads the object of type typ with the encoded primary key pk;
	// found is false when there is none.
	Get(typ, pk string) (obj Stored, found bool, err error)
	// List lists typ's objects that meet every filter, in the order o
	// (by primary key, or by one of typ's indexes: the objects with a
	// null in one of its fields after the others; all reversed with
	// Desc; with o.Exact, only the objects whose entry in o.Index has
	// the key o.Key, in that index's order, what api.Plan picks for
	// filters that fix an index), after the position after ("" from
	// the first), at most limit (1..api.MaxLimit), as a page of api.Merge's result: Items, each
	// with its Position, and More with Last (the position the next call
	// starts after) when objects may follow. A page may be short, even
	// empty, and have More.
	List(typ string, filters api.Filters, o api.Order, after string, limit int) (api.Page[Stored], error)
	// History reads the kept previous versions of the object with key pk,
	// oldest first, without the object itself; also for a deleted object.
	History(typ, pk string) ([]Stored, error)
	// Put stores obj, the whole object with key pk, if cond holds, and
	// returns it as stored (with its new revision).
	Put(typ, pk string, obj model.Object, cond Condition) (Stored, error)
	// Delete deletes the object with key pk if cond holds; found is false
	// when there was none.
	Delete(typ, pk string, cond Condition) (found bool, err error)
}

// Rights says what the caller may read and write; the caller implements
// it from the request's token and role. A nil Rights allows everything.
type Rights interface {
	// CanRead reports whether the caller may read objects of typ: some
	// of their fields at least (CanReadField says which).
	CanRead(typ string) bool
	// CanReadField reports whether the caller may read field (a field of
	// the latest version, a relation, or _version, _revision, _history)
	// of typ's objects; asked only when CanRead(typ) holds. A field it
	// may not read cannot be selected, nor named by a where, by the
	// index of an orderBy, or by a relation it follows (rights.go).
	CanReadField(typ, field string) bool
	// CanReadWhole reports whether the caller may read every field of
	// typ's objects: what a service that reads typ needs, for its
	// function sees whole objects.
	CanReadWhole(typ string) bool
	// CanWrite reports whether the caller may insert, update and delete
	// objects of typ, which writes every field.
	CanWrite(typ string) bool
	// CanWriteField reports whether the caller may write field (a field
	// of the latest version) of typ's objects in an update; asked when
	// CanWrite(typ) does not hold.
	CanWriteField(typ, field string) bool
	// CanReadSchema reports whether the caller may read the whole
	// schema (the query field _sdl), which names every type and field.
	CanReadSchema() bool
}

// allowAll is the Rights of a nil Rights.
type allowAll struct{}

func (allowAll) CanRead(string) bool               { return true }
func (allowAll) CanReadField(string, string) bool  { return true }
func (allowAll) CanReadWhole(string) bool          { return true }
func (allowAll) CanWrite(string) bool              { return true }
func (allowAll) CanWriteField(string, string) bool { return true }
func (allowAll) CanReadSchema() bool               { return true }
