package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/server"
)

// loadDefinitions creates a mob for every definition (*.json, *.toml) of
// dir whose mob the server does not serve yet. A definition that does not
// load is an error: the daemon does not start half-configured.
func loadDefinitions(ctx context.Context, dir string, srv *server.Server, log *zap.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("definitions: %w", err)
	}
	var defs []*flows.Definition
	var errs []error
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".json" && ext != ".toml") {
			continue
		}
		def, err := flows.LoadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("definition %s: %w", e.Name(), err))
			continue
		}
		defs = append(defs, def)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	served := srv.Mobs()
	for _, def := range defs {
		if slices.Contains(served, def.ID) {
			log.Info("definition's mob already exists", zap.String("mob", def.ID))
			continue
		}
		if _, err := srv.CreateMob(ctx, def); err != nil {
			return fmt.Errorf("definition of mob %q: %w", def.ID, err)
		}
	}
	return nil
}
