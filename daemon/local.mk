# daemon/ rules
