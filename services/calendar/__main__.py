"""`python -m services.calendar`: run the calendar service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.calendar.service import definition

main(definition(), STREAMS)
