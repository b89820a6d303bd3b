"""`python -m services.chat`: run the chat service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.chat.service import definition

main(definition(), STREAMS)
