package examples

import (
	"testing"

	"github.com/shoaldb/shoal/core/model"
)

func TestModelsParseAndSucceed(t *testing.T) {
	m, err := model.Parse("model.yaml", Model)
	if err != nil {
		t.Fatal(err)
	}
	next, err := model.Parse("model-next.yaml", ModelNext)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckSuccessor(next); err != nil {
		t.Fatal(err)
	}
}
