package normalize_test

import (
	"fmt"

	"github.com/kefu-chat/kefu/engine/normalize"
)

func ExampleNormalizer_Normalize() {
	cfg := normalize.DefaultConfig()
	cfg.Sensitive = []string{"垃圾"}
	n, err := normalize.New(cfg)
	if err != nil {
		panic(err)
	}
	r := n.Normalize("這個訂單還沒發貨？ＡＢＣ　垃圾客服")
	fmt.Println(r.Text)
	fmt.Println(r.Hits)
	// Output:
	// 这个订单还没发货?abc **客服
	// [{垃圾 13 15}]
}
