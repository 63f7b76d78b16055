"""Payment gateways: ``StripeGateway`` (official ``stripe`` library) and ``FakePaymentGateway`` (tests)."""
