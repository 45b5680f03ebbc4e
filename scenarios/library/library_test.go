package library

import "testing"

// Every built-in scenario parses, and is named after its file.
func TestEveryScenarioLoads(t *testing.T) {
	names := Names()
	if len(names) == 0 {
		t.Fatal("no built-in scenarios")
	}
	for _, name := range names {
		s, err := Load(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s.Name != name {
			t.Errorf("%s.yaml names itself %q", name, s.Name)
		}
		if s.Description == "" {
			t.Errorf("%s has no description", name)
		}
	}
}
