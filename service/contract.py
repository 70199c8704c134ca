"""The API contract, declared once: pydantic models of the request bodies (service/request_models.py) and of the
JSON answers (service/response_models.py), from which both the views' validation and the component schemas of
the OpenAPI document (service/openapi.py) come.

A thin layer over pydantic, so that every refusal keeps the API's error shape and wording:

- a field type is an `Annotated` pydantic type whose check (a PlainValidator) raises `refuse(...)`, a
  PydanticCustomError carrying our error code and message, and whose JSON Schema is the pydantic type of what it
  accepts (`json_schema_input_type`), so the check and the documented type sit in one declaration, built from
  the same numbers (MAX_ID_CHARS, the 64-bit range);
- `parse(Model, body)` validates a JSON object with the model and turns the first error into the ApiError the
  API promises (status, code, and the message naming the field: `'article.id' must be ...`, or
  `comments[3]: 'text' must be a string.` inside a list);
- `component_schemas()` is the JSON Schema of every model, as the document's `components/schemas`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, ValidationError
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from pydantic_core import PydanticCustomError

from service.errors import ApiError

MAX_ID_CHARS = 255
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NO_NUL = "^[^\\u0000]*$"  # a string the store can keep: no NUL character (else 400 invalid_text)
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"  # and not blank
STATUS = {"invalid_text": 400}  # an error code's status; 422 for every other refusal of a body
# The codes a model's checks refuse with (pydantic's own errors are answered as invalid_request).
CODES = {"invalid_request", "invalid_text", "invalid_label", "batch_too_large"}
REF = "#/components/schemas/{model}"


def refuse(message: str, code: str = "invalid_request") -> PydanticCustomError:
    """A refusal raised inside a model's validation: `{field}` in `message` becomes the field's name (dotted path)
    where `parse` reports it. Messages quoting what the client sent go through `refuse_as_is`."""
    return PydanticCustomError(code, message)


def refuse_as_is(message: str, code: str = "invalid_request") -> PydanticCustomError:
    """A refusal whose message is final (it may quote the client's input, which is never read as a template)."""
    return PydanticCustomError(code, "{detail}", {"detail": message})


class Required:
    """Field metadata: the message of a 422 when the field is missing (instead of "The field 'x' is required.")."""

    def __init__(self, message: str, code: str = "invalid_request"):
        self.message, self.code = message, code


def _where(loc: tuple) -> tuple[str, str]:
    """(prefix, field name) of an error location: `comments[3]: ` and `text` for ('comments', 3, 'text')."""
    prefix, name = "", list(loc)
    for i in range(len(loc) - 1, -1, -1):
        if isinstance(loc[i], int):
            prefix = f"{'.'.join(map(str, loc[:i]))}[{loc[i]}]: "
            name = list(loc[i + 1:])
            break
    return prefix, ".".join(map(str, name))


def _missing(model: type[BaseModel], loc: tuple) -> Required | None:
    field = model.model_fields.get(loc[0]) if len(loc) == 1 else None
    return next((m for m in field.metadata if isinstance(m, Required)), None) if field is not None else None


def api_error(model: type[BaseModel], error: dict) -> ApiError:
    """The ApiError of one pydantic error of `model`'s validation."""
    prefix, name = _where(error["loc"])
    kind = error["type"]
    if kind == "missing":
        required = _missing(model, error["loc"])
        if required is not None:
            return ApiError(STATUS.get(required.code, 422), required.code, required.message)
        return ApiError(422, "invalid_request", f"{prefix}The field '{name}' is required.")
    ctx = error.get("ctx") or {}
    if kind in CODES:
        message = ctx["detail"] if "detail" in ctx else error["msg"].replace("{field}", name)
        return ApiError(STATUS.get(kind, 422), kind, prefix + message)
    if kind in ("model_type", "model_attributes_type", "dict_type"):  # a nested object that is not one
        return ApiError(422, "invalid_request", f"{prefix}'{name}' must be a JSON object.")
    return ApiError(422, "invalid_request", f"{prefix}'{name}': {error['msg']}.")


def parse(model: type[BaseModel], body: dict, context: dict | None = None):
    """`body` validated by `model` (an instance of it), or the ApiError of its first refusal."""
    try:
        return model.model_validate(body, context=context)
    except ValidationError as exc:
        raise api_error(model, exc.errors(include_url=False, include_input=False, include_context=True)[0]) \
            from None


# Field types: what the check accepts is what the schema says (both from the same constants).


def text_value(value) -> str:
    """A string the API can take: refused when not a string (422), holding a lone surrogate (not Unicode) or a NUL
    character (no store can keep it) (400 invalid_text)."""
    if not isinstance(value, str):
        raise refuse("'{field}' must be a string.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise refuse("'{field}' contains a lone surrogate, which is not valid Unicode.", "invalid_text") from None
    return storable(value)


def storable(value: str, name: str | None = None) -> str:
    """`value`, or 400 invalid_text when it holds a NUL character: PostgreSQL cannot store one in a text column
    (every write with it failed there, answered 503 with Retry-After: a CMS would retry it for ever), so no store
    takes it. With `name`, outside a model (an id in the path): the ApiError naming it."""
    if "\x00" in value:
        message = "'{field}' contains a NUL character (U+0000), which cannot be stored."
        if name is None:
            raise refuse(message, "invalid_text")
        raise ApiError(400, "invalid_text", message.replace("{field}", name))
    return value


def _text_or_empty(value) -> str:
    return "" if value is None else text_value(value)


def _text_or_none(value) -> str | None:
    return None if value is None else text_value(value)


def _flag(value) -> bool:
    if not isinstance(value, bool):
        raise refuse("'{field}' must be true or false.")
    return value


StoredString = Annotated[str, StringConstraints(pattern=NO_NUL)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX, json_schema_extra={"format": "int64"})]
# The comment's text (and any string the API stores): a string without lone surrogates or NUL characters.
Text = Annotated[str, PlainValidator(text_value, json_schema_input_type=StoredString)]
# An article's title or body: missing or null is empty text.
TextOrEmpty = Annotated[str, PlainValidator(_text_or_empty, json_schema_input_type=StoredString | None)]
TextOrNone = Annotated[str | None, PlainValidator(_text_or_none, json_schema_input_type=StoredString | None)]
Flag = Annotated[bool, PlainValidator(_flag, json_schema_input_type=bool)]


def _integer(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse("'{field}' must be an integer.")
    if not INT64_MIN <= value <= INT64_MAX:  # past it, the database refuses it
        raise refuse("'{field}' as an integer must fit in 64 bits.")
    return value


IntegerOrNone = Annotated[int | None, PlainValidator(lambda v: None if v is None else _integer(v),
                                                     json_schema_input_type=Int64 | None)]


def identifier(min_chars: int = 0, as_text: bool = False):
    """An id field, null allowed: a string of `min_chars` to MAX_ID_CHARS characters or a 64-bit integer. The value
    as sent (`as_text`: as a string), None for null."""
    def check(value):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise refuse("'{field}' must be a string or an integer.")
        if isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                raise refuse("'{field}' as an integer must fit in 64 bits.")
            return str(value) if as_text else value
        text_value(value)
        if not min_chars <= len(value) <= MAX_ID_CHARS:
            raise refuse(f"'{{field}}' must be {min_chars} to {MAX_ID_CHARS} characters.")
        return value
    constraints = StringConstraints(min_length=min_chars or None, max_length=MAX_ID_CHARS, pattern=NO_NUL)
    return Annotated[Any, PlainValidator(check, json_schema_input_type=Annotated[str, constraints] | Int64 | None)]


def one_of(values: tuple, code: str = "invalid_request", nullable: bool = False):
    """A string among `values` ("'x' must be one of a, b, c." otherwise)."""
    def check(value):
        if value is None and nullable:
            return None
        if value not in values:
            raise refuse(f"'{{field}}' must be one of {', '.join(values)}.", code)
        return value
    accepted = Literal[values] | None if nullable else Literal[values]
    return Annotated[Any, PlainValidator(check, json_schema_input_type=accepted)]


def query_integer(low: int, high: int):
    """A query parameter holding an integer from `low` to `high` (its digits, as the query sends them)."""
    def check(value):
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not (isinstance(value, str) and value.isascii() and value.isdigit()) or len(value) > 19 \
                or not low <= int(value) <= high:
            raise refuse(f"'{{field}}' must be an integer from {low} to {high}.")
        return int(value)
    return Annotated[int | None, PlainValidator(check, json_schema_input_type=Annotated[int, Field(ge=low, le=high)])]


class QueryModel(BaseModel):
    """The query parameters of a GET: each sent at most once, none but the model's fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def unknown_message(cls, unknown: list[str]) -> str:
        """422 for a parameter the query does not take: a typo (`cursor=`, `since=`) would otherwise read from the
        first page again. A query of several parameters names them."""
        taken = f"; send {' and '.join(map(repr, cls.model_fields))}" if len(cls.model_fields) > 1 else ""
        return f"Unknown query parameter(s): {', '.join(map(repr, unknown))}{taken}."

    @classmethod
    def parameters(cls) -> list[dict]:
        """The OpenAPI parameters of the query, from the model's fields."""
        schema = openapi_30(cls.model_json_schema())
        out = []
        for name, field in schema["properties"].items():
            description = field.pop("description", None)
            field.pop("nullable", None)  # a parameter left out is its default
            if field.get("default", 0) is None:
                del field["default"]
            out.append({"name": name, "in": "query", "required": False, "schema": field,
                        **({"description": description} if description else {})})
        return out


def parse_query(model: type[QueryModel], args) -> QueryModel:
    """The query `args` (a MultiDict) validated by `model`, or the ApiError of its first refusal."""
    unknown = sorted(set(args) - set(model.model_fields))
    if unknown:
        raise ApiError(422, "invalid_request", model.unknown_message(unknown))
    values = {}
    for name in model.model_fields:
        sent = args.getlist(name)
        if len(sent) > 1:
            raise ApiError(422, "invalid_request", f"Send '{name}' once.")
        if sent:
            values[name] = sent[0]
    return parse(model, values)


class RequestModel(BaseModel):
    """A request body: fields the model does not name are ignored unless it says otherwise."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ResponseModel(BaseModel):
    """A JSON answer: no field it does not name."""

    model_config = ConfigDict(extra="forbid")


def openapi_30(node, in_properties: bool = False):
    """pydantic's JSON Schema (draft 2020-12) in the OpenAPI 3.0 dialect the document is written in: a null
    alternative becomes `nullable`, a `const` a one-value `enum`; the titles pydantic derives from class and field
    names are left out (the names say it). Why 3.0 and not 3.1, which takes JSON Schema as it is: under 3.1 an
    `integer` also matches 5.0, which the API refuses as an id (an id is a JSON string or integer), so the
    schemathesis run sends it as valid."""
    if isinstance(node, list):
        return [openapi_30(value) for value in node]
    if not isinstance(node, dict):
        return node
    if in_properties:  # field name -> schema: every key is a name, "title" too
        return {key: openapi_30(value) for key, value in node.items()}
    out = {key: openapi_30(value, key == "properties") for key, value in node.items()
           if not (key == "title" and isinstance(value, str))}
    if isinstance(out.get("description"), str):  # a docstring's line breaks
        out["description"] = " ".join(out["description"].split())
    if "const" in out:
        out["enum"] = [out.pop("const")]
    alternatives = out.get("anyOf")
    if alternatives and {"type": "null"} in alternatives:
        rest = [a for a in alternatives if a != {"type": "null"}]
        del out["anyOf"]
        if len(rest) > 1:
            out["anyOf"] = rest
        elif "$ref" in rest[0]:
            out["allOf"] = rest  # a $ref takes no sibling keywords in 3.0
        else:
            out = {**rest[0], **out}
        out["nullable"] = True
    return out


class _Schemas(GenerateJsonSchema):
    """An answer's defaults are not part of it (a field with one is only left out of some answers)."""

    def default_schema(self, schema):
        if self.mode == "serialization":
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


def component_schemas(requests: list[type[BaseModel]], responses: list[type[BaseModel]]) -> dict:
    """The schemas of the request models (as validated) and the response models (as sent), by model name, in the
    OpenAPI 3.0 dialect with references in the document's `#/components/schemas/...` form."""
    _, schemas = models_json_schema([(m, "validation") for m in requests] + [(m, "serialization") for m in responses],
                                    ref_template=REF, schema_generator=_Schemas)
    return openapi_30(schemas.get("$defs", {}))
