package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
)

// slogFactory routes protoactor's logging (log/slog) into logger, the
// engine's zap logger, under the name "protoactor" and with the actor
// system's id, so one logger serves the whole process.
func slogFactory(logger *zap.Logger) func(*actor.ActorSystem) *slog.Logger {
	name := "protoactor"
	if n := logger.Name(); n != "" {
		name = n + ".protoactor"
	}
	return func(system *actor.ActorSystem) *slog.Logger {
		h := zapslog.NewHandler(logger.Core(), zapslog.WithName(name))
		return slog.New(h).With(slog.String("actor_system", system.ID))
	}
}
