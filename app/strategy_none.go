package app

func init() {
	RegisterStrategy(StrategyDef{
		Name: StrategyNone,
		Doc:  "the inventory's atomic reservation alone decides who gets stock (the default)",
		New: func(p StrategyPorts) (Guard, Reserver, error) {
			return NoGuard(), FreshAtomicReserver(p.Inventory), nil
		},
	})
}
