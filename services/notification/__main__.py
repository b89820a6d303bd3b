"""`python -m services.notification`: run the notification service (A4CO_* settings)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.notification.service import definition

main(definition(), STREAMS)
