"""`python -m services.payment`: run the payment service."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.payment.service import definition

main(definition(), STREAMS)
