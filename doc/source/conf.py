# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Sphinx configuration of the cinder-multistore documentation."""

project = 'cinder-multistore'
copyright = 'cinder-multistore authors'
# oslo_config.sphinxext renders the options (show-options) from the
# installed package's oslo.config.opts entry points.
extensions: list[str] = ['oslo_config.sphinxext']
exclude_patterns = ['bench-results.inc']
html_theme = 'alabaster'
