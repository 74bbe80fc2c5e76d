// Tiny DOM builders: elements from tag, properties and children; text always goes in as text, never as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * h('td', { class: 'num', data: { value: 12 }, title: '...' }, 'text', child)
 * Properties: class, data (dataset), on (event listeners), hidden, href, title, any other attribute.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  applyProps(element, props);
  append(element, children);
  return element;
}

/** The same for SVG elements (attributes set as given). */
export function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  applyProps(element, attrs);
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces every child of `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

function applyProps(element, props) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'data') {
      for (const [name, datum] of Object.entries(value)) if (datum !== null && datum !== undefined) element.dataset[name] = String(datum);
    } else if (key === 'on') {
      for (const [name, listener] of Object.entries(value)) element.addEventListener(name, listener);
    } else if (key === 'hidden') {
      element.hidden = true;
    } else {
      element.setAttribute(key, value === true ? '' : String(value));
    }
  }
}
