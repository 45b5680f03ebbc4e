package model

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// propModels are the example models, parsed once.
func propModels(t *testing.T) []*Model {
	var out []*Model
	for _, name := range []string{"model.yaml", "model-next.yaml"} {
		m, err := Parse(name, exampleFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// drawObject draws a type of the example models, a version of it and an
// object valid at that version.
func drawObject(t *rapid.T, models []*Model) (*Type, int, Object) {
	m := models[rapid.IntRange(0, len(models)-1).Draw(t, "model")]
	ty := m.Types[rapid.IntRange(0, len(m.Types)-1).Draw(t, "type")]
	version := rapid.IntRange(1, ty.Latest()).Draw(t, "version")
	seed := rapid.Uint64().Draw(t, "seed")
	return ty, version, ty.Sample(version, rand.New(rand.NewPCG(seed, 0)))
}

func TestPropSampleIsValid(t *testing.T) {
	models := propModels(t)
	rapid.Check(t, func(t *rapid.T) {
		ty, version, obj := drawObject(t, models)
		if err := ty.Check(version, obj); err != nil {
			t.Fatalf("%s v%d: a sample fails Check: %v\n%s", ty.Name, version, err, Encode(obj))
		}
		back, err := ty.Validate(version, Encode(obj))
		if err != nil || !reflect.DeepEqual(back, obj) {
			t.Fatalf("Validate(Encode(o)) = %v, %v; o = %v", back, err, obj)
		}
	})
}

func TestPropUpgradeReachesLatest(t *testing.T) {
	models := propModels(t)
	rapid.Check(t, func(t *rapid.T) {
		ty, version, obj := drawObject(t, models)
		up, err := ty.Upgrade(version, obj)
		if err != nil {
			t.Fatalf("%s v%d: Upgrade: %v\n%s", ty.Name, version, err, Encode(obj))
		}
		if err := ty.Check(ty.Latest(), up); err != nil {
			t.Fatalf("%s: the upgraded object fails Check at %d: %v", ty.Name, ty.Latest(), err)
		}
		// Step by step, through the canonical encoding, gives the same.
		cur := obj
		for v := version; v < ty.Latest(); v++ {
			next, err := ty.UpgradeStep(v, cur)
			if err != nil {
				t.Fatalf("UpgradeStep(%d): %v", v, err)
			}
			if cur, err = Decode(Encode(next)); err != nil {
				t.Fatalf("Decode(Encode): %v", err)
			}
		}
		if !reflect.DeepEqual(cur, up) {
			t.Fatalf("step by step %s\nat once %s", Encode(cur), Encode(up))
		}
	})
}

func TestPropEncodeDecode(t *testing.T) {
	models := propModels(t)
	rapid.Check(t, func(t *rapid.T) {
		_, _, obj := drawObject(t, models)
		back, err := Decode(Encode(obj))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !reflect.DeepEqual(back, obj) {
			t.Fatalf("Decode(Encode(o)) = %v, o = %v", back, obj)
		}
	})
}

func TestPropKeysRoundTrip(t *testing.T) {
	models := propModels(t)
	rapid.Check(t, func(t *rapid.T) {
		ty, version, obj := drawObject(t, models)
		obj, err := ty.Upgrade(version, obj)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := ty.PrimaryKey(obj)
		if err != nil {
			t.Fatal(err)
		}
		if len(ty.keyColumns()) == 1 {
			// Composite keys of free text cannot round-trip through commas.
			back, err := ty.ParseKey(ty.KeyString(pk))
			if err != nil || back != pk {
				t.Fatalf("ParseKey(KeyString(pk)) = %q, %v; pk %q", back, err, pk)
			}
		}
		if _, err := ty.IndexEntries(obj); err != nil {
			t.Fatal(err)
		}
		if _, err := ty.AffinityKey(obj); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPropEncodeKeyOrderInts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := rapid.Int64().Draw(t, "a"), rapid.Int64().Draw(t, "b")
		ka, kb := EncodeKey(a), EncodeKey(b)
		if (a < b) != (ka < kb) || (a == b) != (ka == kb) {
			t.Fatalf("%d vs %d: keys %x vs %x", a, b, ka, kb)
		}
	})
}

func TestPropEncodeKeyOrderStrings(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		gen := rapid.StringOfN(rapid.SampledFrom([]rune{0, 1, 'a', 'b', 0xff, 'é'}), 0, 6, -1)
		a, b := gen.Draw(t, "a"), gen.Draw(t, "b")
		x, y := rapid.Int64().Draw(t, "x"), rapid.Int64().Draw(t, "y")
		ka, kb := EncodeKey(a, x), EncodeKey(b, y)
		want := a < b || (a == b && x < y)
		if want != (ka < kb) {
			t.Fatalf("(%q,%d) vs (%q,%d): keys %x vs %x", a, x, b, y, ka, kb)
		}
	})
}

func TestPropEncodeKeyOrderFloats(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := rapid.Float64().Draw(t, "a"), rapid.Float64().Draw(t, "b")
		if (a < b) != (EncodeKey(a) < EncodeKey(b)) {
			t.Fatalf("%v vs %v", a, b)
		}
	})
}
