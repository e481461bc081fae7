package gateway_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/providers"
	"github.com/kefu-chat/kefu/providers/gateway"
	"github.com/kefu-chat/kefu/providers/openai"
	"github.com/kefu-chat/kefu/providers/openai/openaitest"
)

// BenchmarkGateway compares a call through a gateway route with the same
// call made on the provider directly, against a local OpenAI-compatible
// double, at 1, 32 and 256 concurrent callers: the blocking latency and,
// for streams, the time to the first token. Medians are reported as
// p50-ms (and ttft-ms); the difference between the gateway and direct
// runs is what the gateway adds.
func BenchmarkGateway(b *testing.B) {
	up := openaitest.New(b, openaitest.Config{})
	p, err := openai.New("gpt", openai.Config{BaseURL: up.URL, APIKey: "sk-bench", Model: "gpt-test"}, providers.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New([]gateway.Instance{{Name: "gpt", Provider: p}}, []gateway.Route{{Name: "r", Providers: []string{"gpt"}}}, gateway.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	req := providers.Request{Messages: []providers.Message{{Role: providers.RoleUser, Content: "运费怎么算？满多少包邮"}}}
	calls := map[string]func(ctx context.Context) (time.Duration, error){
		"direct/blocking": func(ctx context.Context) (time.Duration, error) {
			t := time.Now()
			_, err := p.Chat(ctx, req)
			return time.Since(t), err
		},
		"gateway/blocking": func(ctx context.Context) (time.Duration, error) {
			t := time.Now()
			_, err := g.Chat(ctx, "r", req)
			return time.Since(t), err
		},
		"direct/stream": func(ctx context.Context) (time.Duration, error) {
			t := time.Now()
			s, err := p.Stream(ctx, req)
			if err != nil {
				return 0, err
			}
			defer s.Close()
			_, err = s.Recv()
			return time.Since(t), err
		},
		"gateway/stream": func(ctx context.Context) (time.Duration, error) {
			t := time.Now()
			s, err := g.Stream(ctx, "r", req)
			if err != nil {
				return 0, err
			}
			defer s.Close()
			_, err = s.Recv()
			return time.Since(t), err
		},
	}
	for _, conc := range []int{1, 32, 256} {
		for _, name := range []string{"direct/blocking", "gateway/blocking", "direct/stream", "gateway/stream"} {
			call := calls[name]
			b.Run(fmt.Sprintf("c%d/%s", conc, name), func(b *testing.B) {
				var mu sync.Mutex
				var lat []time.Duration
				work := make(chan struct{})
				var wg sync.WaitGroup
				for range conc {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range work {
							d, err := call(context.Background())
							if err != nil {
								b.Error(err)
								return
							}
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
						}
					}()
				}
				b.ResetTimer()
				for range b.N {
					work <- struct{}{}
				}
				close(work)
				wg.Wait()
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				}
			})
		}
	}
}
