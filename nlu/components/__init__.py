"""Pipeline components, registered by the name `config.yml` uses."""

from nlu.components import classifiers, entities, featurizers, text
from nlu.components.base import Component, get_component_class, register, registered_names

__all__ = [
    "Component",
    "classifiers",
    "entities",
    "featurizers",
    "get_component_class",
    "register",
    "registered_names",
    "text",
]
