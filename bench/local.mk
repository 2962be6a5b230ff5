# bench/ rules
