package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
)

// The JSON description of a model (MarshalJSON). Its shape:
//
//	{"types": [{"name", "key": [...], "affinity", "history", "latest",
//	            "indexes": [{"name", "fields": [...], "unique"}],
//	            "relations": [{"name", "kind", "type", "from": [...], "to": [...]}],
//	            "versions": [{"version", "fields": [FIELD...], "migration": [STEP...]}]}]}
//
// FIELD is {"name", "type": TYPE, "default"} ("default" only when the
// field has one); TYPE is {"kind", "nullable", "values" (enum), "elem"
// (array, map), "fields" (record), "ref" (ref)}; STEP is {"op", and the
// step's own keys: "field", "from", "to", "type", "default", "into",
// "fields", "separator", "func"}. Lists are never null, and the types
// are sorted by name.
type (
	jsonModel struct {
		Types []jsonType `json:"types"`
	}
	jsonType struct {
		Name      string         `json:"name"`
		Key       []string       `json:"key"`
		Affinity  string         `json:"affinity"`
		History   int            `json:"history"`
		Latest    int            `json:"latest"`
		Indexes   []jsonIndex    `json:"indexes"`
		Relations []jsonRelation `json:"relations"`
		Versions  []jsonVersion  `json:"versions"`
	}
	jsonIndex struct {
		Name   string   `json:"name"`
		Fields []string `json:"fields"`
		Unique bool     `json:"unique"`
	}
	jsonRelation struct {
		Name string   `json:"name"`
		Kind string   `json:"kind"`
		Type string   `json:"type"`
		From []string `json:"from"`
		To   []string `json:"to"`
	}
	jsonVersion struct {
		Version   int         `json:"version"`
		Fields    []jsonField `json:"fields"`
		Migration []jsonStep  `json:"migration"`
	}
	jsonField struct {
		Name    string           `json:"name"`
		Type    *jsonFieldType   `json:"type"`
		Default *json.RawMessage `json:"default,omitempty"`
	}
	jsonFieldType struct {
		Kind     string         `json:"kind"`
		Nullable bool           `json:"nullable,omitempty"`
		Values   []string       `json:"values,omitempty"`
		Elem     *jsonFieldType `json:"elem,omitempty"`
		Fields   []jsonField    `json:"fields,omitempty"`
		Ref      string         `json:"ref,omitempty"`
	}
	jsonStep struct {
		Op        string           `json:"op"`
		Field     string           `json:"field,omitempty"`
		From      string           `json:"from,omitempty"`
		To        string           `json:"to,omitempty"`
		Type      *jsonFieldType   `json:"type,omitempty"`
		Default   *json.RawMessage `json:"default,omitempty"`
		Into      []string         `json:"into,omitempty"`
		Fields    []string         `json:"fields,omitempty"`
		Separator *string          `json:"separator,omitempty"`
		Func      string           `json:"func,omitempty"`
	}
)

// MarshalJSON describes the model: its types, keys, versions with their
// fields and migrations, indexes and relations (the shape is documented
// on jsonModel in describe.go). The same model always gives the same
// bytes.
func (m *Model) MarshalJSON() ([]byte, error) {
	jm := jsonModel{Types: []jsonType{}}
	for _, t := range m.Types {
		jm.Types = append(jm.Types, describeType(t))
	}
	return json.Marshal(jm)
}

func describeType(t *Type) jsonType {
	jt := jsonType{Name: t.Name, Key: nonNil(t.Key), Affinity: t.Affinity, History: t.History, Latest: t.Latest(),
		Indexes: []jsonIndex{}, Relations: []jsonRelation{}, Versions: []jsonVersion{}}
	for _, ix := range t.Indexes {
		jt.Indexes = append(jt.Indexes, jsonIndex{Name: ix.Name, Fields: nonNil(ix.Fields), Unique: ix.Unique})
	}
	for _, r := range t.Relations {
		jt.Relations = append(jt.Relations, jsonRelation{Name: r.Name, Kind: r.Kind, Type: r.Type, From: nonNil(r.From), To: nonNil(r.To)})
	}
	for _, v := range t.Versions {
		jt.Versions = append(jt.Versions, describeVersion(v))
	}
	return jt
}

func describeVersion(v *Version) jsonVersion {
	jv := jsonVersion{Version: v.Number, Fields: describeFields(v.Fields), Migration: []jsonStep{}}
	for _, s := range v.Migration {
		js := jsonStep{Op: s.Op, Field: s.Field, From: s.From, To: s.To, Into: s.Into, Fields: s.Fields, Func: s.Func}
		if s.Type != nil {
			js.Type = describeFieldType(s.Type)
		}
		if s.HasDefault {
			js.Default = rawValue(s.Default)
		}
		if s.Op == OpSplit || s.Op == OpMerge {
			sep := s.Separator
			js.Separator = &sep
		}
		jv.Migration = append(jv.Migration, js)
	}
	return jv
}

func describeFields(fs []*Field) []jsonField {
	out := []jsonField{}
	for _, f := range fs {
		jf := jsonField{Name: f.Name, Type: describeFieldType(f.Type)}
		if f.HasDefault {
			jf.Default = rawValue(f.Default)
		}
		out = append(out, jf)
	}
	return out
}

func describeFieldType(ft *FieldType) *jsonFieldType {
	j := &jsonFieldType{Kind: string(ft.Kind), Nullable: ft.Nullable, Values: ft.Values, Ref: ft.Ref}
	if ft.Elem != nil {
		j.Elem = describeFieldType(ft.Elem)
	}
	if ft.Kind == Record {
		j.Fields = describeFields(ft.Fields)
	}
	return j
}

func rawValue(v any) *json.RawMessage {
	raw := json.RawMessage(appendValue(nil, v))
	return &raw
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Digest is 16 hex digits of FNV-1a 64 over the model's JSON
// description: models that mean the same have the same digest, however
// their files are laid out.
func (m *Model) Digest() string {
	b, err := m.MarshalJSON()
	if err != nil {
		panic(fmt.Sprintf("model: Digest: %v", err))
	}
	h := fnv.New64a()
	h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}

// CheckSuccessor checks that next may replace m while objects written
// under m exist: it may add types, append versions and change indexes,
// relations and history, but it may not remove a type, change or remove
// a version m has, or change a type's key or affinity. The error names
// the path of every such change, one per line.
func (m *Model) CheckSuccessor(next *Model) error {
	var errs []string
	for _, t := range m.Types {
		path := "types." + t.Name
		nt, ok := next.Type(t.Name)
		if !ok {
			errs = append(errs, path+": the type is gone: a successor may not remove a type")
			continue
		}
		if !slices.Equal(t.Key, nt.Key) {
			errs = append(errs, fmt.Sprintf("%s.key: changed from [%s] to [%s]: a type's key is fixed", path, strings.Join(t.Key, ", "), strings.Join(nt.Key, ", ")))
		}
		if t.Affinity != nt.Affinity {
			errs = append(errs, fmt.Sprintf("%s.affinity: changed from %s to %s: a type's affinity is fixed", path, t.Affinity, nt.Affinity))
		}
		for i, v := range t.Versions {
			if i >= len(nt.Versions) {
				errs = append(errs, fmt.Sprintf("%s.versions[%d]: version %d is gone: accepted versions may not be removed", path, i, v.Number))
				break
			}
			a, _ := json.Marshal(describeVersion(v))
			b, _ := json.Marshal(describeVersion(nt.Versions[i]))
			if string(a) != string(b) {
				errs = append(errs, fmt.Sprintf("%s.versions[%d]: version %d changed: accepted versions are fixed (append a new version instead)", path, i, v.Number))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "\n"))
}
