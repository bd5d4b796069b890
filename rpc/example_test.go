package rpc_test

import (
	"context"
	"fmt"
	"io"

	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/sim"
)

// Example streams a first turn from the simulated runtime, run in-process
// over pipes; with a real runtime, rpc.Connect starts rkat-rpc instead.
func Example() {
	ctx := context.Background()
	toSim, fromClient := io.Pipe()
	toClient, fromSim := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sim.Serve(ctx, toSim, fromSim, sim.Options{})
		fromSim.Close()
	}()
	client, err := rpc.ConnectStreams(ctx, toClient, fromClient, rpc.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	stream := client.CreateSessionStreaming(ctx, rpc.Text("What is the capital of France?"), rpc.SessionOptions{})
	for ev, err := range stream.All() {
		if err != nil {
			fmt.Println(err)
			return
		}
		if d, ok := ev.(*rpc.TextDelta); ok {
			fmt.Print(d.Delta)
		}
	}
	fmt.Println()
	res, _ := stream.Result()
	fmt.Println("turns:", res.Turns)

	session := stream.Session()
	again, _ := session.Turn(ctx, rpc.Text("What about Germany?"), rpc.TurnOptions{})
	fmt.Println(again.Text)

	_ = client.Close()
	<-done
	// Output:
	// The capital of France is Paris.
	// turns: 1
	// The capital of Germany is Berlin.
}
