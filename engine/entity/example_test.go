package entity_test

import (
	"fmt"
	"time"

	"github.com/kefu-chat/kefu/engine/entity"
)

func ExampleExtractor_Extract() {
	x, err := entity.New(entity.Config{Defs: []entity.Def{
		{Name: "颜色", Values: map[string][]string{"红色": {"红", "大红"}}},
	}})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, e := range x.Extract("订单a2024112200123要两件大红的,明天下午3点送到", now) {
		fmt.Printf("%s %s %q [%d,%d)\n", e.Type, e.Value, e.Text, e.Start, e.End)
	}
	// Output:
	// order_id A2024112200123 "a2024112200123" [2,16)
	// number 2 "两" [17,18)
	// 颜色 红色 "大红" [19,21)
	// date 2026-11-23 "明天" [23,25)
	// time 15:00 "下午3点" [25,29)
}
