// Command callback-tools registers a Go function as a tool the model can
// call. The runtime sends tool/execute requests back to this process; the
// SDK runs the handler and returns its result to the model.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/mobd-dev/mobd/rpc"
)

func main() {
	weather := rpc.Tool{
		Name:        "get_weather",
		Description: "Current weather for a city",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
		Handler: func(ctx context.Context, args json.RawMessage) (rpc.ToolResult, error) {
			var in struct {
				City string `json:"city"`
			}
			if err := json.Unmarshal(args, &in); err != nil {
				return rpc.ErrorResult("bad arguments: " + err.Error()), nil
			}
			return rpc.TextResult(fmt.Sprintf("%s: 18°C, light rain", in.City)), nil
		},
	}

	ctx := context.Background()
	client, err := rpc.Connect(ctx, rpc.Options{Tools: []rpc.Tool{weather}})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	session, err := client.CreateSession(ctx, rpc.Text("Use get_weather to tell me the weather in Paris."), rpc.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(session.Text())
	fmt.Printf("Tool calls made: %d\n", session.ToolCalls())
}
