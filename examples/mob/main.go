// Command mob drives a runtime-hosted mob through the SDK's Mob handle:
// create it from a Meerkat definition, spawn and wire members, send work,
// run a flow and watch the mob's events.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/mobd-dev/mobd/rpc"
)

const definition = `{
  "id": "triage",
  "orchestrator": {"profile": "lead"},
  "profiles": {
    "lead": {"model": "claude-opus-4-8", "peer_description": "Coordinates", "tools": {"comms": true}},
    "analyst": {"model": "claude-sonnet-4-6", "runtime_mode": "turn_driven"}
  },
  "wiring": {"auto_wire_orchestrator": true, "role_wiring": [{"a": "lead", "b": "analyst"}]},
  "flows": {
    "review": {
      "steps": {
        "scan": {"role": "lead", "message": "Pick an issue about {{ params.topic }}"},
        "dig": {"role": "analyst", "message": "Investigate", "depends_on": ["scan"]}
      }
    }
  }
}`

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := rpc.Connect(ctx, rpc.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	mob, err := client.CreateMob(ctx, json.RawMessage(definition))
	if err != nil {
		log.Fatal(err)
	}
	events, err := mob.SubscribeEvents(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, spec := range []rpc.SpawnSpec{{Profile: "lead", AgentIdentity: "lead-1"}, {Profile: "analyst", AgentIdentity: "analyst-1"}} {
		if _, err := mob.Spawn(ctx, spec); err != nil {
			log.Fatal(err)
		}
	}
	if err := mob.Wire(ctx, "lead-1", "analyst-1"); err != nil {
		log.Fatal(err)
	}
	members, err := mob.Members(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range members {
		fmt.Printf("member %s (%s)\n", m.AgentIdentity, m.Role)
	}
	if _, err := mob.Member("analyst-1").Send(ctx, rpc.Text("Look at the flaky test."), "queue"); err != nil {
		log.Fatal(err)
	}

	runID, err := mob.RunFlow(ctx, "review", map[string]any{"topic": "CI"})
	if err != nil {
		log.Fatal(err)
	}
	for {
		run, err := mob.FlowStatus(ctx, runID)
		if err != nil {
			log.Fatal(err)
		}
		if run != nil && (run.Status == "completed" || run.Status == "failed" || run.Status == "canceled") {
			fmt.Printf("flow %s: %s\n", runID, run.Status)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := events.Close(ctx); err != nil {
		log.Fatal(err)
	}
	n := 0
	for ev := range events.All() {
		n++
		_ = ev
	}
	fmt.Printf("mob events seen: %d\n", n)
	if err := mob.Lifecycle(ctx, rpc.MobDestroy); err != nil {
		log.Fatal(err)
	}
}
