"""Reading labelled questions from the formats tagsmith accepts."""

from ml.data.readers import FORMATS, parse_tags, read_questions
from ml.data.records import DataFormatError, Question, ReadReport

__all__ = ["FORMATS", "DataFormatError", "Question", "ReadReport", "parse_tags", "read_questions"]
